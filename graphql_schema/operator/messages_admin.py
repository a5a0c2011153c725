"""Operators and members' messages (admin scopes messages:read, messages:write): a member's
messages, totals per channel, kind and status, retrying a dead letter, and the templates
(upsert, preview for a chosen member). app/messaging does the work; docs/messaging.md."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from app.auth import PrincipalKind, actor_of
from app.members import MemberNotFound
from app.messaging import (
    LANGUAGES,
    Channel,
    EventKind,
    Links,
    MessageNotFound,
    MessageRecord,
    MessageTemplate,
    MessagingPolicy,
    UnknownLanguage,
    get_policy,
    get_template,
    list_messages,
    message_totals,
    preview,
    retry_message,
    save_template,
    unsubscribe_key,
    update_policy,
)
from app.messaging import MessageTotal as TotalModel
from app.messaging import Rendered as RenderedModel
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.permissions import admin_scope, require_kind
from graphql_schema.refusals import Where, as_payload, as_query
from graphql_schema.user_errors import UserError

READ, WRITE = "messages:read", "messages:write"
ADMIN = Where(member=("member_id",))
QUERY = Where(under=(), member=("member_id",))
MAX_MESSAGES = 200


def _member(member_id: strawberry.ID) -> str:
    try:
        return from_global_id(member_id, "Member")[1]
    except InvalidInput:
        raise MemberNotFound(member_id) from None


def _message(message_id: strawberry.ID) -> str:
    try:
        return from_global_id(message_id, "Message")[1]
    except InvalidInput:
        raise MessageNotFound(message_id) from None


@strawberry.type(description="One message to one member on one channel, and what became of it.")
class Message:
    id: strawberry.ID
    member_id: strawberry.ID
    channel: Channel
    kind: EventKind
    status: str = strawberry.field(
        description="queued, sending, sent, delivered (an SMS its provider reported received), failed or suppressed."
    )
    reason: str | None = strawberry.field(
        description="Why suppressed or waiting: consent, opt_out, no_address, unusable, cap, "
        "quiet_hours, outcome_unknown."
    )
    transport: str | None = strawberry.field(
        description="aliyun, tencent, smtp, push-gateway, or dev-inbox (no provider configured)."
    )
    subject: str
    text: str = strawberry.field(description="What was (or would have been) sent.")
    attempts: int
    provider_id: str | None
    error_code: str | None
    error: str | None
    created_at: datetime
    due_at: datetime | None
    sent_at: datetime | None

    @classmethod
    def of(cls, record: MessageRecord) -> Message:
        return cls(
            id=strawberry.ID(to_global_id("Message", record.id)),
            member_id=strawberry.ID(to_global_id("Member", record.member_id)),
            channel=Channel(record.channel),
            kind=EventKind(record.kind),
            status=record.status,
            reason=record.reason,
            transport=record.transport,
            subject=record.subject,
            text=record.text,
            attempts=record.attempts,
            provider_id=record.provider_id,
            error_code=record.error_code,
            error=record.error,
            created_at=record.created_at,
            due_at=record.due_at,
            sent_at=record.sent_at,
        )


@strawberry.type
class MessageTotal:
    channel: Channel
    kind: EventKind
    status: str
    count: int

    @classmethod
    def of(cls, total: TotalModel) -> MessageTotal:
        return cls(
            channel=Channel(total.channel),
            kind=EventKind(total.kind),
            status=total.status,
            count=total.count,
        )


@strawberry.type(description="A template of one kind, channel and language.")
class MessageTemplateView:
    kind: EventKind
    channel: Channel
    language: str
    subject: str
    body: str
    html: str | None
    sms_template_code: str | None
    sms_params: list[str]
    stored: bool = strawberry.field(description="False: the shipped default is in use.")

    @classmethod
    def of(cls, template: MessageTemplate) -> MessageTemplateView:
        return cls(
            kind=template.kind,
            channel=template.channel,
            language=template.language,
            subject=template.subject,
            body=template.body,
            html=template.html,
            sms_template_code=template.sms_template_code,
            sms_params=list(template.sms_params),
            stored=template.stored,
        )


@strawberry.type(description="A template rendered for one member; nothing is sent.")
class RenderedMessage:
    subject: str
    text: str
    html: str | None
    sms_params: list[str] = strawberry.field(description='"name=value" in the provider\'s order.')
    sms_parts: int = strawberry.field(description="SMS parts the text takes (0: not an SMS).")

    @classmethod
    def of(cls, rendered: RenderedModel) -> RenderedMessage:
        return cls(
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            sms_params=[f"{k}={v}" for k, v in rendered.sms_params.items()],
            sms_parts=rendered.sms_parts,
        )


@strawberry.input
class MessageTemplateInput:
    kind: EventKind
    channel: Channel
    language: str = strawberry.field(description="zh-CN or en.")
    body: str = strawberry.field(description="Jinja2 (sandboxed); the kind's variables only.")
    subject: str = ""
    html: str | None = strawberry.field(default=None, description="E-mail only.")
    sms_template_code: str | None = strawberry.field(
        default=None, description="The SMS provider's approved template."
    )
    sms_params: list[str] = strawberry.field(
        default_factory=list, description="The variables the provider's template takes, in order."
    )

    def model(self) -> MessageTemplate:
        return MessageTemplate(
            kind=EventKind(self.kind),
            channel=Channel(self.channel),
            language=self.language,
            body=self.body,
            subject=self.subject,
            html=self.html,
            sms_template_code=self.sms_template_code,
            sms_params=tuple(self.sms_params),
        )


@strawberry.input
class RetryMessageInput:
    message_id: strawberry.ID


@strawberry.type
class RetryMessagePayload:
    message: Message | None
    user_errors: list[UserError]


@strawberry.type
class MessageTemplatePayload:
    template: MessageTemplateView | None
    user_errors: list[UserError]


async def resolve_member_messages(
    info: Info, member_id: strawberry.ID, first: int = 50
) -> list[Message]:
    mongo = info.context.runtime.mongo

    async def run() -> list[Message]:
        records = await list_messages(
            mongo, member_id=_member(member_id), limit=max(1, min(first, MAX_MESSAGES))
        )
        return [Message.of(record) for record in records]

    return await as_query(run, QUERY)


async def resolve_message_totals(
    info: Info, since: datetime | None = None, until: datetime | None = None
) -> list[MessageTotal]:
    totals = await message_totals(info.context.runtime.mongo, since=since, until=until)
    return [MessageTotal.of(total) for total in totals]


async def resolve_message_template(
    info: Info, kind: EventKind, channel: Channel, language: str
) -> MessageTemplateView:
    mongo = info.context.runtime.mongo

    async def run() -> MessageTemplateView:
        if language not in LANGUAGES:
            raise UnknownLanguage(language)
        return MessageTemplateView.of(
            await get_template(mongo, EventKind(kind), Channel(channel), language)
        )

    return await as_query(run, Where(under=()))


async def resolve_preview(
    info: Info, member_id: strawberry.ID, template: MessageTemplateInput
) -> RenderedMessage:
    runtime = info.context.runtime

    async def run() -> RenderedMessage:
        key = await unsubscribe_key(runtime.mongo, runtime.settings)
        links = Links(key, runtime.settings.public_url)
        rendered = await preview(
            runtime.mongo, runtime.clock, links, template.model(), _member(member_id)
        )
        return RenderedMessage.of(rendered)

    return await as_query(run, Where(under=("template",), member=("member_id",)))


async def retry_message_mutation(info: Info, input: RetryMessageInput) -> RetryMessagePayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> RetryMessagePayload:
        record = await retry_message(
            runtime.mongo, runtime.clock, _message(input.message_id), actor=actor
        )
        return RetryMessagePayload(message=Message.of(record), user_errors=[])

    return await as_payload(run, lambda e: RetryMessagePayload(message=None, user_errors=e))


async def upsert_message_template_mutation(
    info: Info, input: MessageTemplateInput
) -> MessageTemplatePayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> MessageTemplatePayload:
        saved = await save_template(runtime.mongo, runtime.clock, input.model(), actor=actor)
        return MessageTemplatePayload(template=MessageTemplateView.of(saved), user_errors=[])

    return await as_payload(run, lambda e: MessageTemplatePayload(template=None, user_errors=e))


@strawberry.type(description="One kind's route: groups of alternatives, in order.")
class MessageRoute:
    kind: EventKind
    groups: list[list[Channel]] = strawberry.field(
        description="In each group the first channel that reaches the member is used; every "
        "group is used. [[PUSH, SMS], [EMAIL]]: push, else SMS; and e-mail."
    )


@strawberry.type
class ChannelCap:
    channel: Channel
    per_day: int = strawberry.field(description="Messages a member gets a program day at most.")


@strawberry.type(description="The program's rules of sending (docs/messaging.md).")
class MessagingPolicyView:
    routes: list[MessageRoute]
    quiet_start: str = strawberry.field(description="HH:MM in the program's time zone.")
    quiet_end: str
    quiet_channels: list[Channel]
    daily_caps: list[ChannelCap]
    device_seen_within_days: int = strawberry.field(
        description="A push device counts when registered or refreshed within this many days."
    )
    language: str = strawberry.field(description="A member's language when they chose none.")
    route_within_hours: int = strawberry.field(
        description="Notifications older than this are never sent."
    )

    @classmethod
    def of(cls, policy: MessagingPolicy) -> MessagingPolicyView:
        return cls(
            routes=[
                MessageRoute(kind=kind, groups=groups) for kind, groups in policy.routes.items()
            ],
            quiet_start=policy.quiet_start.strftime("%H:%M"),
            quiet_end=policy.quiet_end.strftime("%H:%M"),
            quiet_channels=sorted(policy.quiet_channels, key=list(Channel).index),
            daily_caps=[ChannelCap(channel=c, per_day=n) for c, n in policy.daily_caps.items()],
            device_seen_within_days=policy.device_seen_within.days,
            language=policy.language,
            route_within_hours=int(policy.route_within.total_seconds() // 3600),
        )


@strawberry.input
class MessageRouteInput:
    kind: EventKind
    groups: list[list[Channel]]


@strawberry.input
class ChannelCapInput:
    channel: Channel
    per_day: int


@strawberry.input(description="The rules to change; those left out stay as they are.")
class MessagingPolicyInput:
    routes: list[MessageRouteInput] | None = strawberry.field(
        default=None, description="Replaces the routes of the kinds named."
    )
    quiet_start: str | None = strawberry.field(default=None, description="HH:MM.")
    quiet_end: str | None = strawberry.field(default=None, description="HH:MM.")
    quiet_channels: list[Channel] | None = None
    daily_caps: list[ChannelCapInput] | None = strawberry.field(
        default=None, description="Replaces the caps of the channels named."
    )
    device_seen_within_days: int | None = None
    language: str | None = None
    route_within_hours: int | None = None

    def changes(self, current: MessagingPolicy) -> dict[str, object]:
        changes: dict[str, object] = {}
        if self.routes is not None:
            changes["routes"] = {
                **current.routes,
                **{
                    EventKind(r.kind): [[Channel(c) for c in g] for g in r.groups]
                    for r in self.routes
                },
            }
        for name in ("quiet_start", "quiet_end", "language"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.quiet_channels is not None:
            changes["quiet_channels"] = frozenset(Channel(c) for c in self.quiet_channels)
        if self.daily_caps is not None:
            changes["daily_caps"] = {
                **current.daily_caps,
                **{Channel(c.channel): c.per_day for c in self.daily_caps},
            }
        if self.device_seen_within_days is not None:
            changes["device_seen_within"] = timedelta(days=self.device_seen_within_days)
        if self.route_within_hours is not None:
            changes["route_within"] = timedelta(hours=self.route_within_hours)
        return changes


@strawberry.type
class MessagingPolicyPayload:
    policy: MessagingPolicyView | None
    user_errors: list[UserError]


async def resolve_messaging_policy(info: Info) -> MessagingPolicyView:
    return MessagingPolicyView.of(await get_policy(info.context.runtime.mongo))


async def update_messaging_policy_mutation(
    info: Info, input: MessagingPolicyInput
) -> MessagingPolicyPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> MessagingPolicyPayload:
        current = await get_policy(runtime.mongo)
        updated = await update_policy(
            runtime.mongo, runtime.clock, input.changes(current), actor=actor
        )
        return MessagingPolicyPayload(policy=MessagingPolicyView.of(updated), user_errors=[])

    return await as_payload(run, lambda e: MessagingPolicyPayload(policy=None, user_errors=e))


messaging_policy_field = strawberry.field(
    resolver=resolve_messaging_policy,
    extensions=admin_scope(READ),
    description="Operators: the rules of sending: routes, quiet hours, caps (messages:read).",
)
update_messaging_policy_field = strawberry.mutation(
    resolver=update_messaging_policy_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: change the rules of sending, audited (messages:write).",
)
member_messages_field = strawberry.field(
    resolver=resolve_member_messages,
    extensions=admin_scope(READ),
    description="Operators: a member's messages, newest first (admin scope messages:read).",
)
message_totals_field = strawberry.field(
    resolver=resolve_message_totals,
    extensions=admin_scope(READ),
    description="Operators: messages per channel, kind and status, created in the range "
    "(admin scope messages:read).",
)
message_template_field = strawberry.field(
    resolver=resolve_message_template,
    extensions=admin_scope(READ),
    description="Operators: the template in use for a kind, channel and language (messages:read).",
)
preview_message_template_field = strawberry.field(
    resolver=resolve_preview,
    extensions=admin_scope(READ),
    description="Operators: a template rendered for a chosen member, checked as a save would "
    "check it; nothing is sent (messages:read).",
)
retry_message_field = strawberry.mutation(
    resolver=retry_message_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: send a dead-lettered (failed) message again (messages:write).",
)
upsert_message_template_field = strawberry.mutation(
    resolver=upsert_message_template_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: save a template for a kind, channel and language (messages:write).",
)
