"""Freezing an account: a suspended (or erased) member's points can be neither spent nor held,
and a hold made before the freeze can only be released, not captured; closing it: an erased
member's ledger takes no new entry at all but a refund's reversal and 清零.

The flags live on the account document that every operation already reads, so enforcing them
costs no command. Setting one bumps the account's version: an operation that read the account
before the change fails its versioned write and is retried against the new flags, so nothing
slips through once the change commits. A frozen account still earns, is refunded, expires and
takes operators' corrections (the areas that earn refuse suspended members themselves); a closed
one only expires, matures and gives points back through a refund or 清零.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Mongo
from app.ledger.book import Book
from app.ledger.models import Balance
from app.ledger.store import instant


async def set_frozen(
    mongo: Mongo, member_id: str, frozen: bool, *, session: AsyncClientSession | None = None
) -> None:
    """Freeze or thaw the member's account (nothing to do for a member who never had points)."""
    await mongo["accounts"].update_one(
        {"_id": member_id, "frozen": {"$ne": frozen}},
        {"$set": {"frozen": frozen}, "$inc": {"version": 1}},
        session=session,
    )


async def close_account(
    mongo: Mongo, member_id: str, now: datetime, *, session: AsyncClientSession | None = None
) -> None:
    """Freeze and close the member's account for good (erasure); a member who never had one gets
    an empty closed account, so that no later operation opens one."""
    empty = Book(Balance(member_id), [], instant(now)).account_document()
    empty.pop("version")
    await mongo["accounts"].update_one(
        {"_id": member_id},
        {"$set": {"frozen": True, "closed": True}, "$setOnInsert": empty, "$inc": {"version": 1}},
        upsert=True,
        session=session,
    )
