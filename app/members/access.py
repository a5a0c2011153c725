"""Ending a member's access when an operator suspends or erases them.

In the operator's transaction: the member's status, the ledger account frozen (no spend, no hold),
and an ACCESS_REVOKED event in `notifications`, which every API process's hub delivers to the
member's open WebSockets so they close at once (graphql_schema/connections.py). After the commit,
every refresh token of the member is revoked; `refresh_session` also refuses a member who is not
active, which covers a refresh racing the suspension. Access tokens already issued still read
for at most their lifetime (15 minutes), but cannot spend: the frozen account refuses.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger import set_frozen
from app.notifications.events import notify_event

ACCESS_REVOKED = "access_revoked"


async def end_access(
    mongo: Mongo, session: AsyncClientSession, now: datetime, member: Document, reason: str
) -> None:
    """Inside the operator's transaction: freeze the account and tell open connections."""
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
