"""Events about a member (a tier change), notified the way expiry warnings are.

An event is one document in `notifications`: the in-app list shows it, each API process's change
stream (hub.py) pushes it live to the member's subscriptions, and a member who consented and
registered a device also gets it by push through the outbox. The writer passes its transaction's
session, so the event exists exactly when what it tells of was committed; the dedupe key makes a
second write of the same event fail (and its transaction with it), never notify twice.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import FrozenClock
from app.db import Document, Mongo, honour_cancellation
from app.notifications.hub import NotificationHub
from app.notifications.outbox import enqueue


def reachable_devices(member: Document) -> list[dict[str, str]]:
    """The member's push devices, if the member consented to push messages (else none)."""
    if not (member.get("consents") or {}).get("notifications"):
        return []
    return [
        {"platform": token["platform"], "token": token["token"]}
        for token in member.get("push_tokens") or []
    ]


async def notify_event(
    mongo: Mongo,
    session: AsyncClientSession,
    now: datetime,
    *,
    member: Document,
    kind: str,
    dedupe_key: str,
    fields: dict[str, Any],
) -> None:
    """Write the event for `member` (a members document with its consents and push_tokens)."""
    document: Document = {
        "kind": kind,
        "member_id": member["_id"],
        **fields,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "read_at": None,
    }
    await mongo["notifications"].insert_one(document, session=session)
    devices = reachable_devices(member)
    if devices:
        payload = {"type": kind, "member_id": member["_id"], **fields, "devices": devices}
        await enqueue(
            mongo,
            FrozenClock(now),
            kind="push",
            idempotency_key=dedupe_key,
            member_id=member["_id"],
            payload={key: _plain(value) for key, value in payload.items()},
            session=session,
        )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def event_stream(
    hub: NotificationHub, member_id: str, kind: str
) -> AsyncGenerator[Document, None]:
    """Each new event of `kind` for the member, as it is written (no replay of older ones)."""
    subscription = hub.subscribe(member_id)
    try:
        honour_cancellation()
        async for document in subscription:
            if document.get("kind") == kind:
                yield document
    finally:
        subscription.close()
