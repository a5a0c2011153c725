"""The worker's tier review: members whose qualifying points may have fallen are moved down.

A member is due when `review_at` has passed: its oldest bucket left the window, or a refund
lowered its points. The due members are one range of the `review_at` index. Each review runs in
its own transaction: it drops the buckets that left the window, moves the member down at most
`tier_rules.max_levels_down` levels (recorded and notified like an upgrade), and sets the next
review: the start of the next local day if the points still call for a lower tier (one
evaluation a day), else when the oldest remaining bucket leaves the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.members.qualifying import downgrade_target, in_window, leaves_at, qualifying_points
from app.members.tiers import MEMBER_FIELDS, TierChange, TierChangeReason, record_change
from app.program import Program


@dataclass(frozen=True)
class ReviewRun:
    reviewed: int
    changes: list[TierChange]
    done: bool


async def review_tiers(
    mongo: Mongo, program: Program, now: datetime, *, batch_size: int = 200
) -> ReviewRun:
    """Review one batch of the members due at `now`; `done` when no more were due."""
    cursor = (
        mongo["tier_progress"]
        .find({"review_at": {"$lte": now}}, {"_id": 1})
        .sort("review_at", 1)
        .limit(batch_size)
    )
    due = [document["_id"] async for document in cursor]
    changes = []
    for member_id in due:

        async def review(
            session: AsyncClientSession, member_id: str = member_id
        ) -> TierChange | None:
            return await review_member(mongo, session, program, member_id, now)

        change = await mongo.transaction(review)
        if change is not None:
            changes.append(change)
    return ReviewRun(reviewed=len(due), changes=changes, done=len(due) < batch_size)


async def review_member(
    mongo: Mongo, session: AsyncClientSession, program: Program, member_id: str, now: datetime
) -> TierChange | None:
    progress = await mongo["tier_progress"].find_one({"_id": member_id}, session=session)
    if progress is None or progress.get("review_at") is None or progress["review_at"] > now:
        return None  # reviewed meanwhile
    live = in_window(program, progress.get("buckets") or {}, now)
    points = qualifying_points(program, live, now)
    member = await mongo["members"].find_one({"_id": member_id}, MEMBER_FIELDS, session=session)
    target = None if member is None else downgrade_target(program, member["tier"], points)
    again = target is not None and downgrade_target(program, target.code, points) is not None
    update: Document = {"$set": {"buckets": live}}
    next_review = next_local_day(program, now) if again else oldest_leaves_at(program, live)
    if next_review is None:
        update["$unset"] = {"review_at": ""}
    else:
        update["$set"]["review_at"] = next_review
    await mongo["tier_progress"].update_one({"_id": member_id}, update, session=session)
    if member is None or target is None:
        return None
    await mongo["members"].update_one(
        {"_id": member_id, "tier": member["tier"]},
        {"$set": {"tier": target.code, "tier_since": now}},
        session=session,
    )
    return await record_change(
        mongo,
        session,
        now,
        program,
        member=member,
        to_tier=target.code,
        reason=TierChangeReason.REVIEWED,
        qualifying=points,
    )


def next_local_day(program: Program, now: datetime) -> datetime:
    day = program.local_date(now) + timedelta(days=1)
    return datetime.combine(day, time()).replace(tzinfo=program.zone, fold=0).astimezone(UTC)


def oldest_leaves_at(program: Program, buckets: dict[str, int]) -> datetime | None:
    return leaves_at(program, date.fromisoformat(min(buckets))) if buckets else None
