"""The worker's tier review: members whose qualifying points may have fallen are moved down.

A member is due when the `review_at` of their progress (a tally on the account, tiers.py) has
passed: its oldest bucket left the window, or a refund lowered its points. The due members are
one range of the accounts' `tier_progress.review_at` index. Each review runs in
its own transaction: it drops the buckets that left the window, moves the member down at most
`tier_rules.max_levels_down` levels (recorded and notified like an upgrade), and sets the next
review: the start of the next local day if the points still call for a lower tier (one
evaluation a day), else when the oldest remaining bucket leaves the window.

A tier set by hand (manual_tier.py) is a floor until its end: the review never moves the member
below it before then, and is due again at its end, when the override is removed and the points
decide: down at most `max_levels_down` levels, or up to the tier they reach (`override_ended`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger import read_tally, tallies_due, write_tally
from app.members.qualifying import (
    downgrade_target,
    earned_tier,
    in_window,
    leaves_at,
    qualifying_points,
    tier_rank,
)
from app.members.tiers import MEMBER_FIELDS, TALLY, TierChange, TierChangeReason, record_change
from app.program import Program, Tier

OVERRIDE = "tier_override"  # manual_tier.OVERRIDE


@dataclass(frozen=True)
class ReviewRun:
    reviewed: int
    changes: list[TierChange]
    done: bool


async def review_tiers(
    mongo: Mongo, program: Program, now: datetime, *, batch_size: int = 200
) -> ReviewRun:
    """Review one batch of the members due at `now`; `done` when no more were due."""
    due = await tallies_due(mongo, f"{TALLY}.review_at", now, batch_size)
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
    progress = await read_tally(mongo, member_id, TALLY, session)
    if progress is None or progress.get("review_at") is None or progress["review_at"] > now:
        return None  # reviewed meanwhile
    live = in_window(program, progress.get("buckets") or {}, now)
    points = qualifying_points(program, live, now)
    member = await mongo["members"].find_one(
        {"_id": member_id}, {**MEMBER_FIELDS, OVERRIDE: 1}, session=session
    )
    override = None if member is None else member.get(OVERRIDE)
    held_until = override["until"] if override and override["until"] > now else None
    ended = override is not None and held_until is None
    target = None if member is None else _target(program, member, points, override, ended)
    again = target is not None and downgrade_target(program, target.code, points) is not None
    values: Document = {"buckets": live}
    next_review = next_local_day(program, now) if again else oldest_leaves_at(program, live)
    if held_until is not None:
        next_review = held_until if next_review is None else min(next_review, held_until)
    if next_review is not None:
        values["review_at"] = next_review
    unset = ["review_at"] if next_review is None else []
    await write_tally(mongo, session, member_id, TALLY, values=values, unset=unset)
    if member is None:
        return None
    changed: Document = {}
    if target is not None:
        changed = {"tier": target.code, "tier_since": now}
    update: Document = {"$set": changed} if changed else {}
    if ended:
        update["$unset"] = {OVERRIDE: ""}
    if update:
        await mongo["members"].update_one(
            {"_id": member_id, "tier": member["tier"]}, update, session=session
        )
    if target is None:
        return None
    return await record_change(
        mongo,
        session,
        now,
        program,
        member=member,
        to_tier=target.code,
        reason=TierChangeReason.OVERRIDE_ENDED if ended else TierChangeReason.REVIEWED,
        qualifying=points,
    )


def _target(
    program: Program, member: Document, points: int, override: Document | None, ended: bool
) -> Tier | None:
    """The tier the review moves the member to, None to stay: down as the points say, not below
    a tier set by hand before its end; at its end, up too if the points reach higher."""
    current = member["tier"]
    if ended:
        reached = earned_tier(program, points)
        if tier_rank(program, reached.code) > tier_rank(program, current):
            return reached
    target = downgrade_target(program, current, points)
    if target is None or override is None or ended:
        return target
    floor = tier_rank(program, override["tier"])
    if tier_rank(program, target.code) >= floor:
        return target
    return None if tier_rank(program, current) <= floor else program.tiers[floor]


def next_local_day(program: Program, now: datetime) -> datetime:
    day = program.local_date(now) + timedelta(days=1)
    return datetime.combine(day, time()).replace(tzinfo=program.zone, fold=0).astimezone(UTC)


def oldest_leaves_at(program: Program, buckets: dict[str, int]) -> datetime | None:
    return leaves_at(program, date.fromisoformat(min(buckets))) if buckets else None
