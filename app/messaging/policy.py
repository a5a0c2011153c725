"""The program's rules of sending: routes per event kind, quiet hours, daily caps, the language.

One document in `messaging_policy` (absent: the defaults below). A route is a list of groups;
each group is an ordered list of alternatives: the first channel of a group that can reach the
member is used, and every group is used. `[[push, sms], [email]]` reads "app push, or SMS when
the member has no push device seen in `device_seen_within`; and e-mail".
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession

from app.audit import record_audit
from app.clock import Clock
from app.db import Mongo
from app.messaging.errors import InvalidPolicy
from app.messaging.kinds import QUIET_CHANNELS, Channel, EventKind

LANGUAGES = ("zh-CN", "en")

DEFAULT_ROUTES: dict[EventKind, list[list[Channel]]] = {
    EventKind.EXPIRY_WARNING: [[Channel.PUSH, Channel.SMS], [Channel.EMAIL]],
    EventKind.TIER_CHANGED: [[Channel.PUSH], [Channel.EMAIL]],
    EventKind.ACCESS_REVOKED: [[Channel.PUSH, Channel.SMS]],
    EventKind.CAMPAIGN: [[Channel.PUSH], [Channel.EMAIL]],
}


class MessagingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    routes: dict[EventKind, list[list[Channel]]] = Field(
        default_factory=lambda: {k: [list(g) for g in v] for k, v in DEFAULT_ROUTES.items()}
    )
    quiet_start: time = time(21, 0)  # in the program's time zone
    quiet_end: time = time(9, 0)
    quiet_channels: frozenset[Channel] = QUIET_CHANNELS
    daily_caps: dict[Channel, int] = Field(
        default_factory=lambda: {Channel.PUSH: 5, Channel.SMS: 2, Channel.EMAIL: 3}
    )
    device_seen_within: timedelta = timedelta(days=30)
    language: str = "zh-CN"  # a member's language when they chose none
    route_within: timedelta = timedelta(days=2)  # older unrouted notifications are not sent

    def route(self, kind: EventKind) -> list[list[Channel]]:
        return self.routes.get(kind, [])

    def quiet_until(self, channel: Channel, at: datetime, zone: ZoneInfo) -> datetime | None:
        """The instant the quiet hours around `at` end, or None when `at` is not in them."""
        if channel not in self.quiet_channels or self.quiet_start == self.quiet_end:
            return None
        local = at.astimezone(zone)
        clock = local.timetz().replace(tzinfo=None)
        if self.quiet_start < self.quiet_end:
            quiet = self.quiet_start <= clock < self.quiet_end
        else:  # across midnight: 21:00-09:00
            quiet = clock >= self.quiet_start or clock < self.quiet_end
        if not quiet:
            return None
        day = local.date() if clock < self.quiet_end else local.date() + timedelta(days=1)
        end = datetime.combine(day, self.quiet_end, tzinfo=zone)
        return end.astimezone(at.tzinfo)


async def get_policy(mongo: Mongo) -> MessagingPolicy:
    document = await mongo["messaging_policy"].find_one({"_id": "program"})
    if document is None:
        return MessagingPolicy()
    document.pop("_id")
    return MessagingPolicy.model_validate(document)


async def set_policy(mongo: Mongo, policy: MessagingPolicy) -> None:
    data: dict[str, Any] = policy.model_dump(mode="json")
    await mongo["messaging_policy"].replace_one({"_id": "program"}, data, upsert=True)


MAX_DAILY_CAP = 100


def _checked(policy: MessagingPolicy) -> MessagingPolicy:
    for kind, groups in policy.routes.items():
        seen = [channel for group in groups for channel in group]
        if any(not group for group in groups):
            raise InvalidPolicy("routes", f"{kind.value}: a group names no channel")
        if len(seen) != len(set(seen)):
            raise InvalidPolicy("routes", f"{kind.value}: a channel appears twice")
    for channel, cap in policy.daily_caps.items():
        if not 0 <= cap <= MAX_DAILY_CAP:
            raise InvalidPolicy("daily_caps", f"{channel.value}: 0 to {MAX_DAILY_CAP} a day")
    if not timedelta(days=1) <= policy.device_seen_within <= timedelta(days=365):
        raise InvalidPolicy("device_seen_within_days", "1 to 365 days")
    if not timedelta(hours=1) <= policy.route_within <= timedelta(days=30):
        raise InvalidPolicy("route_within_hours", "1 hour to 30 days")
    if policy.language not in LANGUAGES:
        raise InvalidPolicy("language", "zh-CN or en")
    return policy


async def update_policy(
    mongo: Mongo, clock: Clock, changes: dict[str, Any], *, actor: str = "system"
) -> MessagingPolicy:
    """Change some rules (the others stay), checked, audited (`messaging_policy.update`)."""
    before = await get_policy(mongo)
    try:
        after = MessagingPolicy.model_validate({**before.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidPolicy(str(first["loc"][0]), first["msg"]) from None
    _checked(after)

    async def work(session: AsyncClientSession) -> None:
        await mongo["messaging_policy"].replace_one(
            {"_id": "program"}, after.model_dump(mode="json"), upsert=True, session=session
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="messaging_policy.update",
            target="messaging_policy:program",
            before=before.model_dump(mode="json"),
            after=after.model_dump(mode="json"),
            session=session,
        )

    await mongo.transaction(work)
    return after
