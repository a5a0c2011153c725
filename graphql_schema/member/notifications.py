"""Notifications in the app: live expiry warnings, the in-app list, devices and consent."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from app.notifications import (
    DeviceNotFound,
    PushPlatform,
    expiry_warning_stream,
    list_notifications,
    mark_notifications_read,
    register_push_token,
    set_notification_consent,
    unregister_push_token,
)
from app.notifications import Notification as NotificationModel
from graphql_schema.context import Info
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.member.tiers import TierChange, tier_changes_field
from graphql_schema.operator.ops_live import warnings_issued_today_field
from graphql_schema.permissions import IsMember, MemberMutation, caller_member_id
from graphql_schema.refusals import as_payload
from graphql_schema.relay import INSTANT, OBJECT_ID, Connection, Cursor, Node, connection, page_size
from graphql_schema.user_errors import UserError


@strawberry.type
class ExpiryWarning:
    points: int
    expires_at: datetime
    days_left: int


@strawberry.type
class Subscription:
    tier_changes: AsyncGenerator[TierChange, None] = tier_changes_field
    warnings_issued_today: AsyncGenerator[int, None] = warnings_issued_today_field

    @strawberry.subscription(  # type: ignore[untyped-decorator]
        permission_classes=[IsMember],
        description=(
            "Warnings about the member's own points nearing expiry: first those already due inside "
            "the warning window, then each new one as the program issues it."
        ),
    )
    async def expiry_warnings(self, info: Info) -> AsyncGenerator[ExpiryWarning, None]:
        runtime = info.context.runtime
        stream = expiry_warning_stream(
            runtime.mongo, runtime.hub, runtime.clock, caller_member_id(info)
        )
        try:
            async for warning in stream:
                yield ExpiryWarning(
                    points=warning.points,
                    expires_at=warning.expires_at,
                    days_left=warning.days_left,
                )
        finally:
            await stream.aclose()


@strawberry.type
class Notification(Node):
    kind: str = strawberry.field(description="What happened, e.g. expiry_warning.")
    points: int | None
    expires_at: datetime | None
    days_left: int | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def from_model(cls, model: NotificationModel) -> Notification:
        return cls(
            id=strawberry.ID(to_global_id("Notification", model.id)),
            kind=model.kind,
            points=model.points,
            expires_at=model.expires_at,
            days_left=model.days_left,
            created_at=model.created_at,
            read_at=model.read_at,
        )


NotificationConnection = Connection[Notification]
NOTIFICATIONS = Cursor("notification", (INSTANT, OBJECT_ID))  # (created at, id)


async def notifications_page(
    info: Info, member_id: str, first: int, after: str | None
) -> NotificationConnection:
    position = NOTIFICATIONS.decode(after) if after is not None else None
    models, more = await list_notifications(
        info.context.runtime.mongo, member_id, first=page_size(first), after=position
    )
    return connection(
        models,
        has_next=more,
        after=after,
        cursor=lambda m: NOTIFICATIONS.encode(m.created_at, m.id),
        node=Notification.from_model,
    )


strawberry.enum(PushPlatform)


@strawberry.input
class RegisterPushTokenInput:
    platform: PushPlatform
    token: str


@strawberry.input
class UnregisterPushTokenInput:
    token: str


@strawberry.input
class SetNotificationConsentInput:
    granted: bool = strawberry.field(description="Whether the member agrees to push messages.")


@strawberry.input
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The notifications to mark; all unread ones when left out."
    )


@strawberry.type
class NotificationSettingsPayload:
    ok: bool
    user_errors: list[UserError]


@strawberry.type
class MarkNotificationsReadPayload:
    marked: int = strawberry.field(description="How many notifications became read.")
    user_errors: list[UserError]


async def register_push_token_mutation(
    info: Info, input: RegisterPushTokenInput
) -> NotificationSettingsPayload:
    runtime = info.context.runtime
    platform = input.platform

    async def run() -> NotificationSettingsPayload:
        await register_push_token(
            runtime.mongo, runtime.clock, caller_member_id(info), platform, input.token
        )
        return NotificationSettingsPayload(ok=True, user_errors=[])

    return await as_payload(run, lambda e: NotificationSettingsPayload(ok=False, user_errors=e))


async def unregister_push_token_mutation(
    info: Info, input: UnregisterPushTokenInput
) -> NotificationSettingsPayload:

    async def run() -> NotificationSettingsPayload:
        mongo = info.context.runtime.mongo
        if not await unregister_push_token(mongo, caller_member_id(info), input.token):
            raise DeviceNotFound("no such device")
        return NotificationSettingsPayload(ok=True, user_errors=[])

    return await as_payload(run, lambda e: NotificationSettingsPayload(ok=False, user_errors=e))


async def set_notification_consent_mutation(
    info: Info, input: SetNotificationConsentInput
) -> NotificationSettingsPayload:
    runtime = info.context.runtime
    await set_notification_consent(
        runtime.mongo, runtime.clock, caller_member_id(info), input.granted
    )
    return NotificationSettingsPayload(ok=True, user_errors=[])


async def mark_notifications_read_mutation(
    info: Info, input: MarkNotificationsReadInput
) -> MarkNotificationsReadPayload:
    raw_ids = None
    if input.ids is not None:
        raw_ids = [from_global_id(global_id, "Notification")[1] for global_id in input.ids]
    runtime = info.context.runtime

    async def run() -> MarkNotificationsReadPayload:
        marked = await mark_notifications_read(
            runtime.mongo, runtime.clock, caller_member_id(info), raw_ids
        )
        return MarkNotificationsReadPayload(marked=marked, user_errors=[])

    return await as_payload(run, lambda e: MarkNotificationsReadPayload(marked=0, user_errors=e))


register_push_token_field = strawberry.mutation(
    resolver=register_push_token_mutation, permission_classes=[MemberMutation]
)
unregister_push_token_field = strawberry.mutation(
    resolver=unregister_push_token_mutation, permission_classes=[MemberMutation]
)
set_notification_consent_field = strawberry.mutation(
    resolver=set_notification_consent_mutation, permission_classes=[MemberMutation]
)
mark_notifications_read_field = strawberry.mutation(
    resolver=mark_notifications_read_mutation, permission_classes=[MemberMutation]
)
