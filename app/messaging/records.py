"""Delivery records: one document in `messages` per (event, member, channel).

`_id` is `<notification id>:<member id>:<channel>`, so routing the same event again, from a rerun
or a second worker, inserts nothing: a member gets each event once per channel whatever the
retries. Statuses:

| status | meaning |
|---|---|
| `queued` | waiting for `due_at` (now, the end of the quiet hours: `reason` "quiet_hours", or a retry's backoff) |
| `sending` | claimed by a worker until `claimed_until`; `handed_at` set once given to the provider |
| `sent` | the provider (or the dev inbox) accepted it; `provider_id` is its id |
| `delivered` | an SMS the provider reported received by the handset (`delivered_at`) |
| `failed` | a dead letter: permanent failure, attempts exhausted, the outcome unknown, or an SMS the provider reported undelivered (reason "not_delivered"); an operator can retry it |
| `suppressed` | not sent, with `reason`: consent, opt_out, no_address, unusable, cap |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo
from app.messaging.errors import MessageNotDead, MessageNotFound


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = (
        "delivered"  # an SMS whose provider reported it received (app/messaging/callbacks.py)
    )
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class Reason(StrEnum):
    CONSENT = "consent"  # push without the member's consent; marketing without consent
    OPT_OUT = "opt_out"  # the member turned this kind off on this channel
    NO_ADDRESS = "no_address"  # no phone, no e-mail, no push device seen recently
    UNUSABLE = "unusable"  # the provider said this phone, address or device never works
    QUIET_HOURS = "quiet_hours"  # queued: waits for the morning
    CAP = "cap"  # the member's daily cap on this channel was reached
    OUTCOME_UNKNOWN = "outcome_unknown"  # a worker stopped between handing over and recording
    NOT_DELIVERED = "not_delivered"  # the SMS provider reported the handset never received it


def message_id(notification_id: object, member_id: str, channel: str) -> str:
    return f"{notification_id}:{member_id}:{channel}"


@dataclass(frozen=True)
class MessageRecord:
    id: str
    member_id: str
    kind: str
    channel: str
    status: str
    reason: str | None
    transport: str | None  # the provider's name, "push-gateway", or "dev-inbox"
    subject: str
    text: str
    attempts: int
    provider_id: str | None
    error_code: str | None
    error: str | None
    created_at: datetime
    due_at: datetime | None
    sent_at: datetime | None
    sms_parts: int | None
    delivered_at: datetime | None = None

    @classmethod
    def from_document(cls, d: Document) -> MessageRecord:
        return cls(
            id=d["_id"],
            member_id=d["member_id"],
            kind=d["kind"],
            channel=d["channel"],
            status=d["status"],
            reason=d.get("reason"),
            transport=d.get("transport"),
            subject=d.get("subject") or "",
            text=d.get("text") or "",
            attempts=int(d.get("attempts") or 0),
            provider_id=d.get("provider_id"),
            error_code=d.get("error_code"),
            error=d.get("error"),
            created_at=d["created_at"],
            due_at=d.get("due_at"),
            sent_at=d.get("sent_at"),
            sms_parts=d.get("sms_parts"),
            delivered_at=d.get("delivered_at"),
        )


async def list_messages(
    mongo: Mongo, *, member_id: str | None = None, status: str | None = None, limit: int = 50
) -> list[MessageRecord]:
    """Newest first: a member's messages (or everyone's, for the dev inbox)."""
    query: dict[str, Any] = {}
    if member_id is not None:
        query["member_id"] = member_id
    if status is not None:
        query["status"] = status
    cursor = mongo["messages"].find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit)
    return [MessageRecord.from_document(d) async for d in cursor]


@dataclass(frozen=True)
class MessageTotal:
    channel: str
    kind: str
    status: str
    count: int


async def message_totals(
    mongo: Mongo, *, since: datetime | None = None, until: datetime | None = None
) -> list[MessageTotal]:
    """How many messages per channel, event kind and status (created in the range)."""
    match: dict[str, Any] = {}
    if since is not None or until is not None:
        match["created_at"] = {
            **({"$gte": since} if since else {}),
            **({"$lt": until} if until else {}),
        }
    pipeline: list[Mapping[str, Any]] = [
        {"$match": match},
        {
            "$group": {
                "_id": {"channel": "$channel", "kind": "$kind", "status": "$status"},
                "count": {"$sum": 1},
            }
        },
    ]
    cursor = await mongo["messages"].aggregate(pipeline)
    totals = [
        MessageTotal(d["_id"]["channel"], d["_id"]["kind"], d["_id"]["status"], int(d["count"]))
        async for d in cursor
    ]
    return sorted(totals, key=lambda t: (t.channel, t.kind, t.status))


async def retry_message(
    mongo: Mongo, clock: Clock, raw_id: str, *, actor: str = "system"
) -> MessageRecord:
    """An operator's retry of a dead letter: queued now with a fresh set of attempts, audited."""

    async def work(session: AsyncClientSession) -> Document | None:
        document = await mongo["messages"].find_one_and_update(
            {"_id": raw_id, "status": Status.FAILED.value},
            {
                "$set": {"status": Status.QUEUED.value, "attempts": 0, "due_at": clock.now()},
                "$unset": {"handed_at": "", "claimed_until": "", "reason": ""},
            },
            return_document=True,
            session=session,
        )
        if document is not None:
            await record_audit(
                mongo,
                clock,
                actor=actor,
                action="message.retry",
                target=f"message:{raw_id}",
                after={"status": Status.QUEUED.value},
                session=session,
            )
        return document

    document = await mongo.transaction(work)
    if document is None:
        existing = await mongo["messages"].find_one({"_id": raw_id}, {"status": 1})
        if existing is None:
            raise MessageNotFound(raw_id)
        raise MessageNotDead(raw_id, existing["status"])
    return MessageRecord.from_document(document)
