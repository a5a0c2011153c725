"""Accounts' counters for reads over many members at once (segments): points available, ever
earned and ever redeemed, and the last activity, by member id, in one command per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.db import Mongo

FIELDS = {"available": 1, "lifetime_earned": 1, "lifetime_redeemed": 1, "last_activity_at": 1}


@dataclass(frozen=True, slots=True)
class AccountCounters:
    available: int  # less the points past their expiry no job has taken yet
    lifetime_earned: int
    lifetime_redeemed: int
    last_activity_at: datetime | None


NO_ACCOUNT = AccountCounters(0, 0, 0, None)


async def account_counters(
    mongo: Mongo, member_ids: Sequence[str], overdue: Mapping[str, int]
) -> dict[str, AccountCounters]:
    """The counters of the named members' accounts (a member without one is absent); `overdue`:
    app.ledger.overdue_by_member at the read's instant, so that `available` is exact then."""
    found = {}
    async for doc in mongo["accounts"].find({"_id": {"$in": list(member_ids)}}, FIELDS):
        found[doc["_id"]] = AccountCounters(
            available=max(int(doc.get("available", 0)) - overdue.get(doc["_id"], 0), 0),
            lifetime_earned=int(doc.get("lifetime_earned", 0)),
            lifetime_redeemed=int(doc.get("lifetime_redeemed", 0)),
            last_activity_at=doc.get("last_activity_at"),
        )
    return found
