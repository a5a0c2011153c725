"""Redemption by reward: how many times each reward was redeemed in a period, and for how many
points. Read from `redemptions` (one document per redemption, on a range of its `created_at`
index), grouped in the database; a cancelled redemption counts apart, its points given back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.db import Document, Mongo
from app.program import current_program
from app.reports.periods import MAX_RANGE_DAYS, ReportInvalid, date_range
from app.reports.table import Table

MAX_REWARDS = 500
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class RewardRow:
    reward_id: str
    name: str | None
    redemptions: int  # not cancelled
    quantity: int
    points: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class RedemptionsByReward:
    first: date
    last: date
    rows: tuple[RewardRow, ...]

    def table(self) -> Table:
        header = ("reward_id", "name", "redemptions", "quantity", "points", "cancelled")
        return Table(
            header,
            tuple(
                (r.reward_id, r.name, r.redemptions, r.quantity, r.points, r.cancelled)
                for r in self.rows
            ),
        )


def _unless_cancelled(value: object) -> dict[str, object]:
    return {"$sum": {"$cond": [{"$eq": ["$status", CANCELLED]}, 0, value]}}


async def redemptions_by_reward(
    mongo: Mongo, first: date, last: date, limit: int = MAX_REWARDS
) -> RedemptionsByReward:
    """The `limit` rewards (1 to MAX_REWARDS) redeemed for the most points in the period."""
    if not 1 <= limit <= MAX_REWARDS:
        raise ReportInvalid("first", f"first must be 1 to {MAX_REWARDS}")
    zone = (await current_program(mongo)).zone
    span = date_range(first, last, zone, MAX_RANGE_DAYS)
    pipeline: list[Document] = [
        {"$match": {"created_at": {"$gte": span.start, "$lt": span.end}}},
        {
            "$group": {
                "_id": "$reward_id",
                "redemptions": _unless_cancelled(1),
                "quantity": _unless_cancelled("$quantity"),
                "points": _unless_cancelled("$points"),
                "cancelled": {"$sum": {"$cond": [{"$eq": ["$status", CANCELLED]}, 1, 0]}},
            }
        },
        {"$sort": {"points": -1, "_id": 1}},
        {"$limit": limit},
    ]
    cursor = await mongo["redemptions"].aggregate(pipeline)
    found = [row async for row in cursor]
    ids = [row["_id"] for row in found]
    names = {
        doc["_id"]: doc.get("name")
        async for doc in mongo["rewards"].find({"_id": {"$in": ids}}, {"name": 1})
    }
    rows = tuple(
        RewardRow(
            str(row["_id"]),
            names.get(row["_id"]),
            row["redemptions"],
            row["quantity"],
            row["points"],
            row["cancelled"],
        )
        for row in found
    )
    return RedemptionsByReward(first, last, rows)
