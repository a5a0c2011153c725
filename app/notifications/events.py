"""Events about a member (a tier change), notified the way expiry warnings are.

An event is one document in `notifications`: the in-app list shows it, each API process's change
stream (hub.py) pushes it live to the member's subscriptions, and app/messaging routes it to the
member's channels outside the app (push, SMS, e-mail). The writer passes its transaction's
session, so the event exists exactly when what it tells of was committed; the dedupe key makes a
second write of the same event fail (and its transaction with it), never notify twice.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo, honour_cancellation
from app.notifications.hub import NotificationHub


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
