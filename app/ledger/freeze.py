"""Freezing an account: a suspended (or erased) member's points can be neither spent nor held,
and a hold made before the freeze can only be released, not captured.

The flag lives on the account document that every spend and hold already reads, so enforcing it
costs no command. Setting it bumps the account's version: a spend that read the account before
the freeze fails its versioned write and is retried against the frozen account, so no spend
slips through once the freeze commits. Earnings, refunds, expiry and operators' corrections
still apply to a frozen account; the areas that earn refuse suspended members themselves.
"""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Mongo


async def set_frozen(
    mongo: Mongo, member_id: str, frozen: bool, *, session: AsyncClientSession | None = None
) -> None:
    """Freeze or thaw the member's account (nothing to do for a member who never had points)."""
    await mongo["accounts"].update_one(
        {"_id": member_id, "frozen": {"$ne": frozen}},
        {"$set": {"frozen": frozen}, "$inc": {"version": 1}},
        session=session,
    )
