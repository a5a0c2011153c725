"""Active and dormant members: who earned or spent within the last N days, as of now.

An account's `last_activity_at` (indexed) is its last earn or spend (app/ledger/book.py). Active:
at or after now − N days; dormant: before it; never active: no activity at all (an account
opened by an adjustment only). Each group with the points its members hold (available +
pending + held), so an operator sees what a 清零 of dormant members would take. Two ranges of
the index, summed in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import overdue_by_member
from app.reports.periods import ReportInvalid
from app.reports.table import Table

MAX_DORMANT_DAYS = 3660


@dataclass(frozen=True, slots=True)
class Group:
    members: int = 0
    points: int = 0


@dataclass(frozen=True, slots=True)
class MemberActivity:
    as_of: datetime
    dormant_days: int
    active: Group
    dormant: Group
    never_active: Group

    def table(self) -> Table:
        header = ("as_of", "dormant_days", "group", "members", "points")
        groups = (("active", self.active), ("dormant", self.dormant))
        return Table(
            header,
            tuple(
                (self.as_of, self.dormant_days, name, group.members, group.points)
                for name, group in (*groups, ("never_active", self.never_active))
            ),
        )


async def _group(mongo: Mongo, match: Document, overdue: dict[str, int]) -> Group:
    """The accounts `match` takes, with their points less what is `overdue` of them."""
    held = {"$add": ["$available", "$pending", "$held"]}
    pipeline = [
        {"$match": match},
        {"$group": {"_id": None, "members": {"$sum": 1}, "points": {"$sum": held}}},
    ]
    late = 0
    if overdue:
        query = {"$and": [match, {"_id": {"$in": list(overdue)}}]}
        late = sum([overdue[doc["_id"]] async for doc in mongo["accounts"].find(query, {"_id": 1})])
    async for row in await mongo["accounts"].aggregate(pipeline):
        return Group(row["members"], row["points"] - late)
    return Group()


async def member_activity(mongo: Mongo, clock: Clock, dormant_days: int) -> MemberActivity:
    """As of now: points past their expiry that the job has not yet taken are not counted."""
    if not 1 <= dormant_days <= MAX_DORMANT_DAYS:
        raise ReportInvalid("dormant_days", f"dormantDays must be 1 to {MAX_DORMANT_DAYS}")
    now = clock.now()
    cutoff = now - timedelta(days=dormant_days)
    overdue = await overdue_by_member(mongo, now)
    active = await _group(mongo, {"last_activity_at": {"$gte": cutoff}}, overdue)
    dormant = await _group(mongo, {"last_activity_at": {"$lt": cutoff}}, overdue)
    never = await _group(mongo, {"last_activity_at": None}, overdue)
    return MemberActivity(now, dormant_days, active, dormant, never)
