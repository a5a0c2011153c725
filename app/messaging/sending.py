"""The worker's side: claim due messages under a lease, send each through its channel, record.

Claim, send, record. A due message is checked against the quiet hours and the daily cap, then
claimed (`sending`, `claimed_until`, `handed_at`, its attempt counted) in the same step as it is
handed to the provider, and the provider's answer (a `Delivery` of app/channels) is recorded. A
worker killed before the claim sent nothing: the message is still queued. A worker killed between
the claim and the record leaves a message the provider may or may not have accepted; its claim
lapses, and here the choice differs by channel:

- push: at least once. The brand's gateway is sent the message id as `Idempotency-Key` (as the
  outbox does), so the resend after the lapse is the same request and the gateway keeps one.
- SMS and e-mail: at most once for that gap. Neither provider takes an idempotency key, and a
  second SMS is a charge and a complaint; the message becomes a dead letter (`failed`, reason
  `outcome_unknown`) that an operator sees and can retry. Nothing is lost without a trace, and
  nothing the provider accepted is sent twice by the worker alone.

Outcomes: `SENT` records the provider's id; `RETRY` queues again after an exponential backoff
(or the provider's `retry_after`, whichever is longer) until `max_attempts`, then dead-letters;
`INVALID_RECIPIENT` dead-letters and marks the phone or address unusable (a push device is
unregistered); `FAILED` dead-letters. A channel with no provider configured delivers to the dev
inbox: the record itself, `sent` with transport `dev-inbox`.

Quiet hours and the daily cap are checked again when a message is sent (a retry can fall into
the night; the cap counts sends, per member, channel and program day, in `message_caps`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.channels import (
    Delivery,
    EmailMessage,
    MessageRefused,
    Outcome,
    PushMessage,
    PushPlatform,
    PushProvider,
    PushRefused,
    SmsMessage,
    SmsProvider,
    SmsRefused,
    SmtpMailer,
)
from app.clock import Clock
from app.db import Document, Mongo
from app.messaging.kinds import Channel
from app.messaging.policy import MessagingPolicy, get_policy
from app.messaging.preferences import mark_unusable
from app.messaging.records import Reason, Status
from app.notifications import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    GatewayResponse,
    OutboxPolicy,
    sign,
    unregister_push_token,
)
from app.program import ProgramNotConfigured, get_program

log = logging.getLogger(__name__)

DEV_INBOX = "dev-inbox"
PUSH_GATEWAY = "push-gateway"

# (url, body, headers) -> response; an exception means the gateway could not be reached.
Post = Callable[[str, bytes, dict[str, str]], Awaitable[GatewayResponse]]


@dataclass(frozen=True)
class PushGateway:
    """The brand's push gateway, as the outbox reaches it: a signed POST with an idempotency key."""

    url: str
    secret: bytes
    post: Post

    async def send(self, message: Document, clock: Clock) -> Delivery:
        body = json.dumps(
            {
                "id": message["_id"],
                "kind": "push",
                "data": {
                    "type": message["kind"],
                    "member_id": message["member_id"],
                    "title": message.get("subject") or "",
                    "body": message.get("text") or "",
                    "devices": message.get("devices") or [],
                },
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, int(clock.now().timestamp()), body),
            IDEMPOTENCY_HEADER: message["_id"],
        }
        try:
            response = await self.post(self.url, body, headers)
        except Exception as exc:  # the gateway is outside the product: any failure is a retry
            return Delivery(Outcome.RETRY, error_code="connection", detail=_bounded(repr(exc)))
        detail = _bounded(response.body)
        if 200 <= response.status < 300:
            return Delivery(Outcome.SENT, provider_id=message["_id"])
        if response.status in (404, 410):  # the gateway knows no such device any more
            return Delivery(
                Outcome.INVALID_RECIPIENT, error_code=str(response.status), detail=detail
            )
        if response.status == 429 or response.status >= 500:
            return Delivery(Outcome.RETRY, error_code=str(response.status), detail=detail)
        return Delivery(Outcome.FAILED, error_code=str(response.status), detail=detail)


@dataclass(frozen=True)
class Transports:
    """What is configured; a channel without a transport delivers to the dev inbox."""

    push: PushGateway | None = None
    # APNs and FCM reached directly (app/channels), by platform: a device whose platform has one
    # is sent to it, the others through the gateway.
    direct_push: Mapping[PushPlatform, PushProvider] = field(default_factory=dict)
    sms: SmsProvider | None = None
    sms_sign_name: str | None = None
    mailer: SmtpMailer | None = None


@dataclass(frozen=True)
class SendPolicy(OutboxPolicy):
    """The outbox's retry rule (its doubling backoff) with a member message's defaults."""

    max_attempts: int = 6
    first_backoff: timedelta = timedelta(seconds=30)


@dataclass
class _Pass:
    mongo: Mongo
    clock: Clock
    transports: Transports
    send_policy: SendPolicy
    policy: MessagingPolicy
    zone: ZoneInfo
    counts: dict[str, int] = field(default_factory=dict)


async def deliver_due(
    mongo: Mongo,
    clock: Clock,
    transports: Transports,
    *,
    send_policy: SendPolicy = SendPolicy(),
    limit: int = 100,
) -> int:
    """Send up to `limit` due messages; returns how many were handled (sent, retried, failed,
    suppressed by the cap, or put off by the quiet hours)."""
    try:
        zone = (await get_program(mongo)).zone
    except ProgramNotConfigured:
        zone = ZoneInfo("UTC")
    run = _Pass(mongo, clock, transports, send_policy, await get_policy(mongo), zone)
    await _recover_lapsed(mongo, clock.now())
    handled = 0
    for found in await _due(mongo, clock.now(), limit):
        handled += await _deliver(run, found)
    return handled


async def _recover_lapsed(mongo: Mongo, now: datetime) -> None:
    """Messages whose worker stopped mid-delivery (the claim lapsed). SMS and e-mail already
    handed to the provider: a dead letter (the outcome is unknown). The others (not handed yet,
    or a push, which the gateway deduplicates by its key): queued again now."""
    lapsed = {"status": Status.SENDING.value, "claimed_until": {"$lte": now}}
    await mongo["messages"].update_many(
        {**lapsed, "handed_at": {"$ne": None}, "channel": {"$ne": Channel.PUSH.value}},
        {
            "$set": {
                "status": Status.FAILED.value,
                "reason": Reason.OUTCOME_UNKNOWN.value,
                "error": "the worker stopped after handing the message to the provider",
                "failed_at": now,
            },
            "$unset": {"claimed_until": ""},
        },
    )
    await mongo["messages"].update_many(
        lapsed,
        {"$set": {"status": Status.QUEUED.value, "due_at": now}, "$unset": {"claimed_until": ""}},
    )


async def _due(mongo: Mongo, now: datetime, limit: int) -> list[Document]:
    """The most overdue queued messages (one indexed read: status, due_at)."""
    cursor = (
        mongo["messages"]
        .find({"status": Status.QUEUED.value, "due_at": {"$lte": now}})
        .sort("due_at", 1)
        .limit(limit)
    )
    return [message async for message in cursor]


async def _claim(
    mongo: Mongo, message: Document, now: datetime, policy: SendPolicy, cap_day: str
) -> Document | None:
    """Claim one message found due, as it is handed to the provider, unless another worker did
    first: a point update on _id (cheaper than a findAndModify, which the embedded database
    sorts afresh each time). Nothing but this process's own code runs between the claim and the
    provider's call, so `handed_at` is the claim's instant."""
    claimed_until = now + policy.claim_for
    changes: Document = {
        "status": Status.SENDING.value,
        "claimed_until": claimed_until,
        "handed_at": now,
    }
    if cap_day:
        changes["cap_day"] = cap_day
    result = await mongo["messages"].update_one(
        {"_id": message["_id"], "status": Status.QUEUED.value, "due_at": message["due_at"]},
        {"$set": changes, "$inc": {"attempts": 1}},
    )
    if result.modified_count != 1:
        return None
    return {**message, **changes, "attempts": int(message.get("attempts") or 0) + 1}


async def _unclaimed(run: _Pass, message: Document, changes: Document) -> int:
    """Change a queued message without sending it (quiet hours, the cap): 1 when changed."""
    result = await run.mongo["messages"].update_one(
        {"_id": message["_id"], "status": Status.QUEUED.value, "due_at": message["due_at"]},
        {"$set": changes},
    )
    return result.modified_count


async def _record(run: _Pass, message: Document, changes: Document) -> None:
    await run.mongo["messages"].update_one(
        {"_id": message["_id"], "status": Status.SENDING.value},
        {"$set": changes, "$unset": {"claimed_until": ""}},
    )


async def _deliver(run: _Pass, found: Document) -> int:
    """Quiet hours, the cap, the claim, the provider, the record: 1 when handled, 0 when another
    worker had it."""
    now = run.clock.now()
    channel = Channel(found["channel"])
    quiet_until = run.policy.quiet_until(channel, now, run.zone)
    if quiet_until is not None:
        changes = {"due_at": quiet_until, "reason": Reason.QUIET_HOURS.value}
        return await _unclaimed(run, found, changes)
    day = await _take_cap_slot(run, found, channel, now)
    if day is None:
        changes = {"status": Status.SUPPRESSED.value, "reason": Reason.CAP.value}
        return await _unclaimed(run, found, changes)
    # A claim lost to another worker after the slot was taken leaves the slot counted: the cap
    # errs towards fewer messages. (One worker holds the job's lease: this is rare.)
    message = await _claim(run.mongo, found, now, run.send_policy, day)
    if message is None:
        return 0
    transport, delivery = await _send(run, message, channel)
    await _apply(run, message, channel, transport, delivery)
    return 1


async def _take_cap_slot(
    run: _Pass, message: Document, channel: Channel, now: datetime
) -> str | None:
    """Count this send against the member's cap for the channel today, once per message: the
    day counted ("" when the channel has no cap), or None when the cap is reached."""
    if message.get("cap_day"):
        return str(message["cap_day"])  # counted by an earlier claim of the same message
    cap = run.policy.daily_caps.get(channel)
    if cap is None:
        return ""
    day = now.astimezone(run.zone).date().isoformat()
    slot = f"{message['member_id']}:{channel.value}:{day}"
    try:
        taken = await run.mongo["message_caps"].find_one_and_update(
            {"_id": slot, "count": {"$lt": cap}},
            {"$inc": {"count": 1}, "$setOnInsert": {"day": day}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        return None  # the slot exists and is full: the upsert's insert collided
    return None if taken is None else day


async def _send(run: _Pass, message: Document, channel: Channel) -> tuple[str, Delivery]:
    transports = run.transports
    if channel is Channel.PUSH:
        if transports.direct_push:
            return await _push_directly(run, message)
        if transports.push is None:
            return DEV_INBOX, Delivery(Outcome.SENT, provider_id=f"{DEV_INBOX}:{message['_id']}")
        return PUSH_GATEWAY, await transports.push.send(message, run.clock)
    if channel is Channel.SMS:
        if transports.sms is None or not transports.sms_sign_name:
            return DEV_INBOX, Delivery(Outcome.SENT, provider_id=f"{DEV_INBOX}:{message['_id']}")
        try:
            sms = SmsMessage(
                phone=message["to"],
                sign_name=transports.sms_sign_name,
                template_code=message.get("sms_template_code") or "",
                params=message.get("sms_params") or {},
            )
        except SmsRefused as exc:
            return transports.sms.name, Delivery(
                Outcome.FAILED, error_code=f"refused:{exc.field}", detail=_bounded(str(exc))
            )
        return transports.sms.name, await transports.sms.send(sms)
    if transports.mailer is None:
        return DEV_INBOX, Delivery(Outcome.SENT, provider_id=f"{DEV_INBOX}:{message['_id']}")
    headers: dict[str, str] = {}
    if message.get("unsubscribe_url"):
        headers["List-Unsubscribe"] = f"<{message['unsubscribe_url']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    try:
        email = EmailMessage(
            to=message["to"],
            subject=message.get("subject") or "-",
            text=message.get("text") or "",
            html=message.get("html"),
            to_name=message.get("to_name") or "",
            headers=headers,
        )
        return "smtp", await transports.mailer.send(email)
    except MessageRefused as exc:
        return "smtp", Delivery(
            Outcome.FAILED, error_code=f"refused:{exc.field}", detail=_bounded(str(exc))
        )


DEVICE_PLATFORMS = {"ios": PushPlatform.APNS, "android": PushPlatform.FCM}


async def _push_directly(run: _Pass, message: Document) -> tuple[str, Delivery]:
    """One request per device to its platform's service; the devices of a platform without one go
    through the gateway when there is one (with no device reached directly and no gateway, the
    dev inbox takes the message). A token the service no longer knows is removed at once.
    The message is sent if any device took it (retrying would repeat it on that device); else
    retried if any answer was transient; else it failed, or its recipient is gone when every
    device was."""
    transports = run.transports
    Routed = tuple[Document, PushPlatform | None, PushProvider | None]
    direct: list[Routed] = []
    rest: list[Routed] = []
    for device in message.get("devices") or []:
        platform = DEVICE_PLATFORMS.get(str(device.get("platform")))
        provider = transports.direct_push.get(platform) if platform else None
        (direct if provider is not None else rest).append((device, platform, provider))
    deliveries: list[Delivery] = []
    for device, platform, provider in direct:
        assert platform is not None and provider is not None
        try:
            push = PushMessage(
                platform=platform,
                device_token=str(device["token"]),
                title=message.get("subject") or "-",
                body=message.get("text") or "-",
                data={"kind": str(message["kind"]), "message_id": str(message["_id"])},
                # a resend after a lapsed claim replaces itself on the device: seen once
                collapse_key=str(message["_id"])[:64],
            )
        except PushRefused as exc:
            deliveries.append(Delivery(Outcome.FAILED, error_code=f"refused:{exc.field}"))
            continue
        delivery = await provider.send(push)
        if delivery.outcome is Outcome.INVALID_RECIPIENT:
            await unregister_push_token(run.mongo, message["member_id"], push.device_token)
        deliveries.append(delivery)
    names = sorted({provider.name for _, _, provider in direct if provider is not None})
    if rest or not direct:
        others = {**message, "devices": [device for device, _, _ in rest]}
        if transports.push is not None:
            deliveries.append(await transports.push.send(others, run.clock))
            names.append(PUSH_GATEWAY)
        elif not direct:
            return DEV_INBOX, Delivery(Outcome.SENT, provider_id=f"{DEV_INBOX}:{message['_id']}")
    transport = "+".join(names)
    sent = [d for d in deliveries if d.outcome is Outcome.SENT]
    if sent:
        ids = ",".join(d.provider_id or "" for d in sent)
        return transport, Delivery(Outcome.SENT, provider_id=ids[:500])
    for outcome in (Outcome.RETRY, Outcome.FAILED):
        for delivery in deliveries:
            if delivery.outcome is outcome:
                return transport, delivery
    # every device was unknown to its service: each is removed already
    return transport, Delivery(Outcome.INVALID_RECIPIENT, error_code="no device left")


async def _apply(
    run: _Pass, message: Document, channel: Channel, transport: str, delivery: Delivery
) -> None:
    now = run.clock.now()
    attempts = int(message["attempts"])
    base: dict[str, Any] = {
        "transport": transport,
        "error_code": delivery.error_code,
        "error": delivery.detail or None,
    }
    if delivery.outcome is Outcome.SENT:
        await _record(
            run,
            message,
            {
                **base,
                "status": Status.SENT.value,
                "provider_id": delivery.provider_id,
                "sent_at": now,
                "reason": None,
            },
        )
        return
    if delivery.outcome is Outcome.RETRY and attempts < run.send_policy.max_attempts:
        wait = max(run.send_policy.backoff(attempts), delivery.retry_after or timedelta(0))
        await _record(
            run,
            message,
            {**base, "status": Status.QUEUED.value, "due_at": now + wait, "reason": None},
        )
        return
    if delivery.outcome is Outcome.INVALID_RECIPIENT:
        await _forget_recipient(run, message, channel)
        base["reason"] = Reason.UNUSABLE.value
    log.warning(
        "message %s failed on %s after %d attempts: %s %s",
        message["_id"],
        transport,
        attempts,
        delivery.error_code,
        delivery.detail,
    )
    await _record(run, message, {**base, "status": Status.FAILED.value, "failed_at": now})


async def _forget_recipient(run: _Pass, message: Document, channel: Channel) -> None:
    member_id = message["member_id"]
    if channel is Channel.PUSH:
        for device in message.get("devices") or []:
            await unregister_push_token(run.mongo, member_id, device["token"])
    else:
        await mark_unusable(run.mongo, member_id, channel, message["to"])


def _bounded(text: str) -> str:
    return text[:500]
