"""Ending a member's access when an operator suspends or erases them.

In the operator's transaction: the member's status, the ledger account frozen (no spend, no hold),
and an ACCESS_REVOKED event in `notifications`, which every API process's hub delivers to the
member's open WebSockets so they close at once (graphql_schema/engine/connections.py). After the
commit, every refresh token of the member is revoked; `refresh_session` also refuses a member who
is not active, which covers a refresh racing the suspension. Access tokens issued before the
suspension are refused from then on (Revocations): nothing reads or subscribes with them, and the
frozen account refuses a spend that raced the change. A new sign-in after reactivation works.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger import close_account, set_frozen
from app.notifications import notify_event

ACCESS_REVOKED = "access_revoked"
# How long a revocation is remembered: longer than any access token lives (15 minutes; tokens
# minted by `jifen token member --ttl` for development may outlive it).
REVOCATION_MEMORY = timedelta(hours=24)


class Revocations:
    """Members whose access an operator ended, and when: a member token issued at or before that
    instant is refused. Fed by the suspending request in its own process, by the hub's
    ACCESS_REVOKED events in every process, and at start-up by the events of REVOCATION_MEMORY.
    Checking a token is a dictionary lookup: no database read on the request path."""

    def __init__(self) -> None:
        self._at: dict[str, datetime] = {}

    def record(self, member_id: str, at: datetime) -> None:
        if len(self._at) > 10_000:
            oldest = at - REVOCATION_MEMORY
            self._at = {k: v for k, v in self._at.items() if v > oldest}
        known = self._at.get(member_id)
        self._at[member_id] = at if known is None else max(known, at)

    def refuses(self, member_id: str, issued_at: datetime) -> bool:
        at = self._at.get(member_id)
        return at is not None and issued_at <= at

    def on_event(self, document: dict[str, Any]) -> None:
        """A hub listener: every notification inserted, anywhere."""
        if document.get("kind") == ACCESS_REVOKED and isinstance(
            document.get("created_at"), datetime
        ):
            self.record(str(document["member_id"]), document["created_at"])

    async def load(self, mongo: Mongo, now: datetime) -> None:
        query = {"kind": ACCESS_REVOKED, "created_at": {"$gte": now - REVOCATION_MEMORY}}
        async for document in mongo["notifications"].find(
            query, {"member_id": 1, "created_at": 1, "kind": 1}
        ):
            self.on_event(document)


async def end_access(
    mongo: Mongo,
    session: AsyncClientSession,
    now: datetime,
    member: Document,
    reason: str,
    *,
    erased: bool = False,
) -> None:
    """Inside the operator's transaction: freeze the account (close it, when `erased`) and tell
    open connections."""
    if erased:
        await close_account(mongo, member["_id"], now, session=session)
    else:
        await set_frozen(mongo, member["_id"], True, session=session)
    await notify_event(
        mongo,
        session,
        now,
        member=member,
        kind=ACCESS_REVOKED,
        dedupe_key=f"{ACCESS_REVOKED}:{member['_id']}:{now.isoformat()}",
        fields={"reason": reason},
    )


async def revoke_refresh_tokens(mongo: Mongo, member_id: str, now: datetime) -> None:
    """After the commit: no refresh token of the member works any more."""
    await mongo["refresh_tokens"].update_many(
        {"member_id": member_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
    )
