"""Routing: each new notification becomes one delivery record per channel considered.

For each notification app/notifications wrote (an expiry warning at each lead time, a tier
change, access revoked, a campaign) the program's route for its kind (app/messaging/policy.py)
is walked group by group: in a group, the first channel that can reach the member is queued and
the ones before it are recorded `suppressed` with why (consent, opt_out, no_address, unusable),
so the dev inbox and an operator see why a member got SMS rather than push. A channel in quiet
hours is queued for the morning (reason `quiet_hours`), not skipped. The text is rendered here,
once, in the member's language and the program's time zone, so what the record shows is what is
sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.channels import TemplateError, Value, sms_parts
from app.clock import Clock
from app.db import Document, Mongo
from app.members import MemberNotFound
from app.messaging.errors import InvalidTemplate
from app.messaging.kinds import Channel, EventKind, is_marketing
from app.messaging.policy import MessagingPolicy, get_policy
from app.messaging.preferences import (
    Preferences,
    preferences_of,
    unsubscribe_token,
    unsubscribe_url,
)
from app.messaging.records import Reason, Status, message_id
from app.messaging.templates import (
    MessageTemplate,
    Rendered,
    check,
    get_template,
    render_template,
)
from app.notifications import (
    mark_routed,
    notify_event,
    pushed_by_outbox,
    unrouted_notifications,
)
from app.program import ProgramNotConfigured, get_program

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Links:
    """What an unsubscribe link needs: the signing key and the API's public address."""

    key: bytes
    base_url: str


async def route_new(mongo: Mongo, clock: Clock, links: Links, *, limit: int = 200) -> int:
    """Route up to `limit` notifications not routed yet; returns how many were routed."""
    policy = await get_policy(mongo)
    now = clock.now()
    notifications = await unrouted_notifications(
        mongo, since=now - policy.route_within, limit=limit
    )
    if not notifications:
        return 0
    try:
        program = await get_program(mongo)
        zone, program_name = program.timezone, program.name
    except ProgramNotConfigured:
        zone, program_name = "UTC", ""
    member_ids = {n["member_id"] for n in notifications}
    members = {
        m["_id"]: m
        async for m in mongo["members"].find(
            {"_id": {"$in": list(member_ids)}},
            {"name": 1, "phone": 1, "email": 1, "status": 1, "consents": 1, "push_tokens": 1},
        )
    }
    preferences = await preferences_of(mongo, member_ids)
    already = await pushed_by_outbox(mongo, notifications)
    router = _Router(policy, zone, program_name, links, now)
    writes: list[UpdateOne] = []
    for notification in notifications:
        member = members.get(notification["member_id"])
        try:
            kind = EventKind(notification["kind"])
        except ValueError:
            continue  # a kind that has no message outside the app
        if member is None or member.get("status") == "erased" or notification["_id"] in already:
            continue
        for document in await router.messages(
            mongo, notification, kind, member, preferences[member["_id"]]
        ):
            writes.append(
                UpdateOne({"_id": document["_id"]}, {"$setOnInsert": document}, upsert=True)
            )
    if writes:
        await mongo["messages"].bulk_write(writes, ordered=False)
    await mark_routed(mongo, [n["_id"] for n in notifications], now)
    return len(notifications)


@dataclass
class _Router:
    policy: MessagingPolicy
    zone: str
    program_name: str
    links: Links
    now: datetime
    # the templates read in this pass: a batch of warnings uses one or two
    templates: dict[tuple[EventKind, Channel, str], MessageTemplate] = field(default_factory=dict)

    async def template(
        self, mongo: Mongo, kind: EventKind, channel: Channel, language: str
    ) -> MessageTemplate:
        key = (kind, channel, language)
        if key not in self.templates:
            self.templates[key] = await get_template(mongo, kind, channel, language)
        return self.templates[key]

    async def messages(
        self,
        mongo: Mongo,
        notification: Document,
        kind: EventKind,
        member: Document,
        prefs: Preferences,
    ) -> list[Document]:
        documents: list[Document] = []
        for group in self.policy.route(kind):
            for channel in group:
                reason = self.blocked(channel, kind, member, prefs)
                base = self.base(notification, kind, channel, member)
                if reason is not None:
                    documents.append(
                        {**base, "status": Status.SUPPRESSED.value, "reason": reason.value}
                    )
                    continue
                documents.append(
                    await self.queued(mongo, base, notification, kind, channel, member, prefs)
                )
                break
        return documents

    def blocked(
        self, channel: Channel, kind: EventKind, member: Document, prefs: Preferences
    ) -> Reason | None:
        if is_marketing(kind) and not prefs.marketing_consent:
            return Reason.CONSENT
        if channel is Channel.PUSH and not (member.get("consents") or {}).get("notifications"):
            return Reason.CONSENT
        if not prefs.allows(channel, kind):
            return Reason.OPT_OUT
        if channel is Channel.PUSH:
            return None if self.devices(member) else Reason.NO_ADDRESS
        address = member.get("phone") if channel is Channel.SMS else member.get("email")
        if not address:
            return Reason.NO_ADDRESS
        if prefs.unusable.get(channel.value) == address:
            return Reason.UNUSABLE
        return None

    def devices(self, member: Document) -> list[dict[str, str]]:
        seen_since = self.now - self.policy.device_seen_within
        return [
            {"platform": device["platform"], "token": device["token"]}
            for device in member.get("push_tokens") or []
            if device.get("added_at") is None or _aware(device["added_at"]) >= seen_since
        ]

    def base(
        self, notification: Document, kind: EventKind, channel: Channel, member: Document
    ) -> Document:
        return {
            "_id": message_id(notification["_id"], member["_id"], channel.value),
            "notification_id": notification["_id"],
            "member_id": member["_id"],
            "kind": kind.value,
            "channel": channel.value,
            "marketing": is_marketing(kind),
            "attempts": 0,
            "created_at": self.now,
        }

    async def queued(
        self,
        mongo: Mongo,
        base: Document,
        notification: Document,
        kind: EventKind,
        channel: Channel,
        member: Document,
        prefs: Preferences,
    ) -> Document:
        language = prefs.language or self.policy.language
        template = await self.template(mongo, kind, channel, language)
        variables = self.variables(notification, kind, channel, member)
        document: Document = {**base, "language": language}
        if channel is Channel.PUSH:
            document["devices"] = self.devices(member)
        elif channel is Channel.SMS:
            document["to"] = member["phone"]
        else:
            document["to"] = member["email"]
            document["to_name"] = member.get("name") or ""
            if "unsubscribe_url" in variables:
                document["unsubscribe_url"] = variables["unsubscribe_url"]
        try:
            rendered = render_template(template, variables, self.zone)
        except TemplateError as exc:
            return {**document, "status": Status.FAILED.value, "error": f"template: {exc}"}
        document.update(
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            sms_template_code=rendered.sms_template_code,
            sms_params=dict(rendered.sms_params),
            # counted as the provider counts it: a mainland number by the domestic rule
            sms_parts=(
                sms_parts(rendered.text, mainland=str(member["phone"]).startswith("+86"))
                if channel is Channel.SMS
                else None
            ),
        )
        quiet_until = self.policy.quiet_until(channel, self.now, _zone(self.zone))
        document["status"] = Status.QUEUED.value
        document["due_at"] = quiet_until or self.now
        if quiet_until is not None:
            document["reason"] = Reason.QUIET_HOURS.value
        return document

    def variables(
        self, notification: Document, kind: EventKind, channel: Channel, member: Document
    ) -> dict[str, Value]:
        values: dict[str, Any] = {
            "name": member.get("name") or "",
            "program_name": self.program_name or "-",
        }
        for name in ("points", "days_left", "tier_name", "title", "body"):
            if notification.get(name) is not None:
                values[name] = notification[name]
        if notification.get("expires_at") is not None:
            values["expires_on"] = _aware(notification["expires_at"])
        if kind is EventKind.CAMPAIGN:
            token = unsubscribe_token(self.links.key, member["_id"], channel, kind)
            values["unsubscribe_url"] = unsubscribe_url(self.links.base_url, token)
        return values


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


async def announce(
    mongo: Mongo,
    clock: Clock,
    member_ids: list[str],
    *,
    campaign_id: str,
    title: str,
    body: str,
) -> int:
    """A campaign (marketing) message to members: one notification each, routed like any other
    (only to members who consented to marketing). Idempotent per campaign and member; returns
    how many were new."""
    now = clock.now()
    written = 0
    for member_id in member_ids:

        async def write(session: AsyncClientSession, member_id: str = member_id) -> None:
            await notify_event(
                mongo,
                session,
                now,
                member={"_id": member_id},
                kind=EventKind.CAMPAIGN.value,
                dedupe_key=f"{EventKind.CAMPAIGN.value}:{campaign_id}:{member_id}",
                fields={"title": title, "body": body, "campaign_id": campaign_id},
            )

        try:
            await mongo.transaction(write)
        except DuplicateKeyError:
            continue
        written += 1
    return written


async def preview(
    mongo: Mongo,
    clock: Clock,
    links: Links,
    template: MessageTemplate,
    member_id: str,
) -> Rendered:
    """`template` rendered for one member as the router would: with the member's latest
    notification of the template's kind, or sample values when they have none. Nothing is sent."""
    member = await mongo["members"].find_one({"_id": member_id}, {"name": 1})
    if member is None:
        raise MemberNotFound(member_id)
    try:
        program = await get_program(mongo)
        zone, program_name = program.timezone, program.name
    except ProgramNotConfigured:
        zone, program_name = "UTC", ""
    now = clock.now()
    latest = await mongo["notifications"].find_one(
        {"member_id": member_id, "kind": template.kind.value}, sort=[("created_at", -1)]
    )
    sample: Document = {
        "_id": "preview",
        "points": 1200,
        "expires_at": now + timedelta(days=7),
        "days_left": 7,
        "tier_name": "Gold",
        "title": "示例 / Sample",
        "body": "示例内容 / Sample text",
    }
    policy = await get_policy(mongo)
    router = _Router(policy, zone, program_name, links, now)
    variables = router.variables(
        {**sample, **(latest or {})}, template.kind, template.channel, member
    )
    check(template)
    try:
        return render_template(template, variables, zone)
    except TemplateError as exc:  # passed the checks, failed on this member's values
        raise InvalidTemplate("body", str(exc), exc.line) from None
