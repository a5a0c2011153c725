"""Tiers: qualifying points kept per member on the account, upgrades at the earn, every change
recorded and notified.

A member's tier progress is a tally on their account (`tier_progress`, app.ledger.tally):
`buckets`, the net qualifying points of each local day (ISO date → points, see qualifying.py),
`review_at`, when the worker must look at the member again (the oldest bucket leaves the window,
or a refund lowered the points), and `changes`, the number of tier changes so far (each change is
numbered 1, 2, 3... in `tier_changes`, so a history page is a range of those numbers).

Cost does not grow with the member's history: an earn or a refund adds to one bucket, in the
earn's own command on the account when the caller passes `qualifying_tally` to the earn and
then calls `qualify` (purchases, check-ins, activities), else with one command
(`record_qualifying`, inside the caller's transaction: a refund); only an earn that reaches a higher tier writes more (the member's tier,
the change, its notification). Downgrades are the worker's (tier_review.py): a refund never moves
the tier by itself. Databases that kept the progress in a `tier_progress` collection of its own
have it moved onto the accounts once, at start-up (`move_tier_progress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.event_log import append
from app.ledger import Tally, move_tally, read_tally
from app.members.models import Member
from app.members.qualifying import (
    earned_tier,
    first_day,
    leaves_at,
    next_tier,
    qualifying_points,
    tier_rank,
    window_ends_at,
)
from app.notifications import notify_event
from app.program import Program, Tier

KIND = "tier_changed"
TIER_SINCE = "members_tier_since"  # the `meta` marker of upgrade_tier_since
MEMBER_FIELDS = {"tier": 1, "consents": 1, "push_tokens": 1}


class TierChangeReason(StrEnum):
    QUALIFIED = "qualified"  # an earn brought the qualifying points to a higher tier's threshold
    REVIEWED = "reviewed"  # the worker's evaluation: the points no longer hold the tier
    MANUAL = "manual"  # an operator set the tier, with a reason and an end date (manual_tier.py)
    OVERRIDE_ENDED = "override_ended"  # a tier set by hand ended: the points decide again


@dataclass(frozen=True, slots=True)
class TierChange:
    member_id: str
    seq: int
    from_tier: str
    to_tier: str
    at: datetime
    reason: TierChangeReason
    qualifying_points: int
    entry_id: str | None = None
    note: str | None = None  # an operator's reason for a tier set by hand
    until: datetime | None = None  # a tier set by hand holds until then
    actor: str | None = None  # who set it by hand

    @classmethod
    def from_document(cls, document: Document) -> TierChange:
        return cls(
            member_id=document["member_id"],
            seq=int(document["seq"]),
            from_tier=document["from_tier"],
            to_tier=document["to_tier"],
            at=document["at"],
            reason=TierChangeReason(document["reason"]),
            qualifying_points=int(document["qualifying_points"]),
            entry_id=document.get("entry_id"),
            note=document.get("note"),
            until=document.get("until"),
            actor=document.get("actor"),
        )


@dataclass(frozen=True, slots=True)
class TierProgress:
    current: Tier
    next: Tier | None
    qualifying_points: int
    points_to_next: int | None
    window_ends_at: datetime | None


TALLY = "tier_progress"  # the account's field the progress lives under (app.ledger.tally)
MOVED = "tier_progress_on_accounts"  # the `meta` marker of move_tier_progress


def qualifying_tally(
    program: Program, clock_now: datetime, *, points: int, at: datetime
) -> Tally | None:
    """Counting `points` (negative for a refund) earned at `at` as qualifying points, as a move
    of the account's tally; None when they do not count (nothing, or dated before the window).

    `at` is when the points were earned: for a refund, the refunded purchase's instant, so the
    refund leaves the window together with the points it takes back. A refund asks the worker
    to review the member at its next run."""
    day = program.local_date(at)
    if points == 0 or day < first_day(program, clock_now):
        return None
    review_at = leaves_at(program, day) if points > 0 else clock_now
    return Tally(TALLY, {f"buckets.{day.isoformat()}": points}, {"review_at": review_at})


async def record_qualifying(
    mongo: Mongo,
    session: AsyncClientSession,
    clock_now: datetime,
    program: Program,
    *,
    member_id: str,
    points: int,
    at: datetime,
    entry_id: str | None,
) -> TierChange | None:
    """Count `points` (negative for a refund) as qualifying points earned at `at`, inside the
    caller's transaction (qualifying_tally); upgrade the member at once if an earn reaches a
    higher tier. A refund never upgrades nor downgrades."""
    counted = qualifying_tally(program, clock_now, points=points, at=at)
    if counted is None:
        return None
    progress = await move_tally(mongo, session, member_id, counted)
    if points < 0:
        return None
    return await qualify(
        mongo,
        session,
        clock_now,
        program,
        member_id=member_id,
        progress=progress,
        entry_id=entry_id,
    )


async def qualify(
    mongo: Mongo,
    session: AsyncClientSession,
    clock_now: datetime,
    program: Program,
    *,
    member_id: str,
    progress: Document,
    entry_id: str | None,
) -> TierChange | None:
    """Upgrade the member at once if the qualifying points of `progress` (the tally after an
    earn counted in it) reach a higher tier than theirs; nothing is written when they do not."""
    qualifying = qualifying_points(program, progress.get("buckets") or {}, clock_now)
    reached = earned_tier(program, qualifying)
    rank = tier_rank(program, reached.code)
    if rank == 0:
        return None
    at_or_above = [tier.code for tier in program.tiers[rank:]]
    member = await mongo["members"].find_one_and_update(
        {"_id": member_id, "tier": {"$nin": at_or_above}},
        {"$set": {"tier": reached.code, "tier_since": clock_now}},
        projection=MEMBER_FIELDS,
        return_document=ReturnDocument.BEFORE,
        session=session,
    )
    if member is None:
        return None
    return await record_change(
        mongo,
        session,
        clock_now,
        program,
        member=member,
        to_tier=reached.code,
        reason=TierChangeReason.QUALIFIED,
        qualifying=qualifying,
        entry_id=entry_id,
    )


async def record_change(
    mongo: Mongo,
    session: AsyncClientSession,
    now: datetime,
    program: Program,
    *,
    member: Document,
    to_tier: str,
    reason: TierChangeReason,
    qualifying: int,
    entry_id: str | None = None,
    note: str | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    change_id: str | None = None,
    fingerprint: str | None = None,
) -> TierChange:
    """Number the change, record it and notify the member (`member` as it was before the change,
    with its consents and devices). The member's tier itself is the caller's write. A change made
    by hand carries the operator's note, its end, who made it, and an `_id` from the request's
    idempotency key with the request's fingerprint (manual_tier.py)."""
    progress = await move_tally(mongo, session, member["_id"], Tally(TALLY, {"changes": 1}))
    change = TierChange(
        member_id=member["_id"],
        seq=int(progress["changes"]),
        from_tier=member["tier"],
        to_tier=to_tier,
        at=now,
        reason=reason,
        qualifying_points=qualifying,
        entry_id=entry_id,
        note=note,
        until=until,
        actor=actor,
    )
    document = {
        "_id": change_id or ObjectId(),
        "member_id": change.member_id,
        "seq": change.seq,
        "from_tier": change.from_tier,
        "to_tier": change.to_tier,
        "at": now,
        "reason": reason.value,
        "qualifying_points": qualifying,
        "entry_id": entry_id,
    }
    if reason is TierChangeReason.MANUAL:
        document.update(note=note, until=until, actor=actor, fingerprint=fingerprint)
    await mongo["tier_changes"].insert_one(document, session=session)
    changed: Document = {
        "from_tier": change.from_tier,
        "to_tier": change.to_tier,
        "reason": reason.value,
        "qualifying_points": qualifying,
        "change_seq": change.seq,
    }
    if until is not None:
        changed["until"] = until
    await append(
        mongo,
        session,
        "tier.changed",
        change.member_id,
        changed,
        key=f"tier.changed:{change.member_id}:{change.seq}",
        occurred_at=now,
    )
    if change.from_tier == change.to_tier:
        return change  # a tier set by hand to the one held: its end date changed, not the tier
    await notify_event(
        mongo,
        session,
        now,
        member=member,
        kind=KIND,
        dedupe_key=f"{KIND}:{change.member_id}:{change.seq}",
        fields={
            "from_tier": change.from_tier,
            "to_tier": change.to_tier,
            "tier_name": program.tier(to_tier).name,
            "reason": reason.value,
            "points": qualifying,
            "at": now,
            "seq": change.seq,
        },
    )
    return change


async def as_of(mongo: Mongo, member: Member, at: datetime) -> Member:
    """The member with the tier they held at `at` (a purchase posted late earns at the tier of
    when it happened): as read unless the tier changed after `at`; then one read of the changes."""
    if member.tier_since is None or at >= member.tier_since:
        return member
    later = await mongo["tier_changes"].find_one(
        {"member_id": member.id, "at": {"$gt": at}}, {"from_tier": 1}, sort=[("seq", 1)]
    )
    return member if later is None else member.model_copy(update={"tier": later["from_tier"]})


async def upgrade_tier_since(mongo: Mongo) -> int:
    """Once per database, at start-up: members whose tier changed before `tier_since` was kept get
    the instant of their last change (without it a late purchase would earn at today's tier)."""
    if await mongo["meta"].find_one({"_id": TIER_SINCE}) is not None:
        return 0
    last = [{"$group": {"_id": "$member_id", "at": {"$max": "$at"}}}]
    writes = [
        UpdateOne(
            {"_id": row["_id"], "tier_since": {"$exists": False}},
            {"$set": {"tier_since": row["at"]}},
        )
        async for row in await mongo["tier_changes"].aggregate(last)
    ]
    for start in range(0, len(writes), 1_000):
        await mongo["members"].bulk_write(writes[start : start + 1_000], ordered=False)
    await mongo["meta"].update_one({"_id": TIER_SINCE}, {"$set": {"done": True}}, upsert=True)
    return len(writes)


async def move_tier_progress(mongo: Mongo) -> int:
    """Once per database, at start-up: the progress kept in a `tier_progress` collection of its
    own (before it was a tally on the account) is added to the accounts' tallies, each document
    removed in the same transaction (a start-up stopped half-way resumes where it stopped); the
    number of members moved."""
    if await mongo["meta"].find_one({"_id": MOVED}) is not None:
        return 0
    moved = 0
    while True:
        batch = await mongo["tier_progress"].find().limit(500).to_list()
        if not batch:
            break

        async def work(session: AsyncClientSession, batch: list[Document] = batch) -> None:
            for document in batch:
                add = {f"buckets.{day}": n for day, n in (document.get("buckets") or {}).items()}
                if document.get("changes"):
                    add["changes"] = int(document["changes"])
                least = {"review_at": document["review_at"]} if document.get("review_at") else {}
                await move_tally(mongo, session, document["_id"], Tally(TALLY, add, least))
            ids = [document["_id"] for document in batch]
            await mongo["tier_progress"].delete_many({"_id": {"$in": ids}}, session=session)

        await mongo.transaction(work)
        moved += len(batch)
    await mongo["meta"].update_one({"_id": MOVED}, {"$set": {"done": True}}, upsert=True)
    return moved


async def get_tier_progress(
    mongo: Mongo, program: Program, *, member_id: str, tier: str, now: datetime
) -> TierProgress:
    """Where the member stands: the tier, the next one and the points still missing for it."""
    buckets = (await read_tally(mongo, member_id, TALLY) or {}).get("buckets") or {}
    points = qualifying_points(program, buckets, now)
    upper = next_tier(program, tier)
    return TierProgress(
        current=program.tier(tier),
        next=upper,
        qualifying_points=points,
        points_to_next=None if upper is None else max(0, upper.threshold - points),
        window_ends_at=window_ends_at(program, buckets, now),
    )


async def list_tier_changes(
    mongo: Mongo, member_id: str, *, first: int, before: int | None = None
) -> tuple[list[TierChange], bool]:
    """The member's changes newest first, numbered below `before`; and whether more follow."""
    query: Document = {"member_id": member_id}
    if before is not None:
        query["seq"] = {"$lt": before}
    cursor = mongo["tier_changes"].find(query).sort("seq", -1).limit(first + 1)
    found = [TierChange.from_document(document) async for document in cursor]
    return found[:first], len(found) > first
