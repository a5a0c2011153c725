"""Tiers in the database: an upgrade at the earn that crosses a threshold (inside the caller's
ledger transaction), refunds that lower the points without moving the tier, and the worker's
review that moves members down when their window rolls, one level per evaluation."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Entry, LedgerUnit, run_in_ledger
from app.members import (
    TierChange,
    create_member,
    get_member,
    get_tier_progress,
    move_tier_progress,
    record_qualifying,
)
from app.members.tiers import MOVED, TALLY
from app.messaging import Links, route_new
from app.notifications import PushPlatform, register_push_token, set_notification_consent
from app.program import save_program
from app.program.models import Program, TierRules
from app.worker import tiers
from tests.tiers.programs import PROGRAM, program


async def earn(
    mongo: Mongo, clock: FrozenClock, prog: Program, member_id: str, points: int, key: str
) -> TierChange | None:
    """What the partner API does for a purchase: the earn and its qualifying points, one unit."""

    async def work(unit: LedgerUnit) -> TierChange | None:
        entry = await unit.earn(member_id, points, reference=key)
        return await record_qualifying(
            mongo,
            unit.session,
            unit.now,
            prog,
            member_id=member_id,
            points=points,
            at=unit.now,
            entry_id=entry.id,
        )

    async def replay(entry: Entry) -> TierChange | None:
        return None

    return await run_in_ledger(
        mongo, clock, work, idempotency_key=f"test:{key}", fingerprint=key, replay=replay
    )


async def refund(
    mongo: Mongo, clock: FrozenClock, prog: Program, member_id: str, points: int, at: datetime
) -> TierChange | None:
    async def work(session) -> TierChange | None:  # type: ignore[no-untyped-def]
        return await record_qualifying(
            mongo,
            session,
            clock.now(),
            prog,
            member_id=member_id,
            points=-points,
            at=at,
            entry_id=None,
        )

    return await mongo.transaction(work)


async def member_at(mongo: Mongo, clock: FrozenClock, prog: Program = PROGRAM) -> str:
    await save_program(mongo, clock, prog)
    return (await create_member(mongo, clock, name="Wang Fang", tier="member")).id


async def tier_of(mongo: Mongo, member_id: str) -> str:
    return (await get_member(mongo, member_id)).tier


async def test_the_earn_that_crosses_a_threshold_upgrades_at_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    member_id = await member_at(mongo, clock)
    assert await earn(mongo, clock, PROGRAM, member_id, 60, "o1") is None
    assert await tier_of(mongo, member_id) == "member"
    change = await earn(mongo, clock, PROGRAM, member_id, 50, "o2")
    assert change is not None
    assert (change.from_tier, change.to_tier, change.qualifying_points) == ("member", "silver", 110)
    assert await tier_of(mongo, member_id) == "silver"
    # One earn past two thresholds goes straight to the top.
    change = await earn(mongo, clock, PROGRAM, member_id, 500, "o3")
    assert change is not None and (change.from_tier, change.to_tier) == ("silver", "gold")
    recorded = [d async for d in mongo["tier_changes"].find({"member_id": member_id}).sort("seq")]
    assert [(d["seq"], d["to_tier"], d["reason"]) for d in recorded] == [
        (1, "silver", "qualified"),
        (2, "gold", "qualified"),
    ]
    notes = [d async for d in mongo["notifications"].find({"member_id": member_id})]
    assert sorted(d["to_tier"] for d in notes) == ["gold", "silver"]
    assert {d["kind"] for d in notes} == {"tier_changed"}
    # Earning more at the top changes nothing.
    assert await earn(mongo, clock, PROGRAM, member_id, 10, "o4") is None


async def test_a_refund_lowers_the_points_but_the_tier_waits_for_the_review(
    mongo: Mongo, clock: FrozenClock
) -> None:
    member_id = await member_at(mongo, clock)
    bought_at = clock.now()
    await earn(mongo, clock, PROGRAM, member_id, 120, "o1")
    assert await tier_of(mongo, member_id) == "silver"
    clock.advance(timedelta(days=2))
    assert await refund(mongo, clock, PROGRAM, member_id, 50, bought_at) is None
    progress = await get_tier_progress(
        mongo, PROGRAM, member_id=member_id, tier="silver", now=clock.now()
    )
    assert progress.qualifying_points == 70
    assert await tier_of(mongo, member_id) == "silver"  # not moved by the refund itself
    # A refund never upgrades either: the worker reviews the member at its next run.
    outcome = await tiers(mongo, clock)
    assert outcome.handled == 1
    assert await tier_of(mongo, member_id) == "member"


async def test_the_review_moves_down_one_level_per_evaluation_once_the_window_rolls(
    mongo: Mongo, clock: FrozenClock
) -> None:
    member_id = await member_at(mongo, clock)
    await earn(mongo, clock, PROGRAM, member_id, 300, "o1")
    assert await tier_of(mongo, member_id) == "gold"
    clock.advance(timedelta(days=29))
    assert (await tiers(mongo, clock)).handled == 0  # still inside the window
    assert await tier_of(mongo, member_id) == "gold"
    clock.advance(timedelta(days=1))  # 14 February 17:00 local: 15 January left the window
    assert (await tiers(mongo, clock)).handled == 1
    assert await tier_of(mongo, member_id) == "silver"
    assert (await tiers(mongo, clock)).handled == 0  # one evaluation a day
    assert await tier_of(mongo, member_id) == "silver"
    clock.advance(timedelta(days=1))
    assert (await tiers(mongo, clock)).handled == 1
    assert await tier_of(mongo, member_id) == "member"
    clock.advance(timedelta(days=1))
    assert (await tiers(mongo, clock)).handled == 0
    reasons = [d["reason"] async for d in mongo["tier_changes"].find({"member_id": member_id})]
    assert sorted(reasons) == ["qualified", "reviewed", "reviewed"]


async def test_points_still_in_the_window_keep_the_tier_they_reach(
    mongo: Mongo, clock: FrozenClock
) -> None:
    member_id = await member_at(mongo, clock)
    await earn(mongo, clock, PROGRAM, member_id, 200, "o1")
    clock.advance(timedelta(days=20))
    await earn(mongo, clock, PROGRAM, member_id, 150, "o2")
    assert await tier_of(mongo, member_id) == "gold"
    clock.advance(timedelta(days=10))  # the first 200 left; 150 hold silver
    assert (await tiers(mongo, clock)).handled == 1
    assert await tier_of(mongo, member_id) == "silver"
    clock.advance(timedelta(days=5))
    assert (await tiers(mongo, clock)).handled == 0
    assert await tier_of(mongo, member_id) == "silver"


async def test_more_levels_down_per_evaluation_when_configured(
    mongo: Mongo, clock: FrozenClock
) -> None:
    fast = program(tier_rules=TierRules(window_days=30, max_levels_down=2))
    member_id = await member_at(mongo, clock, fast)
    await earn(mongo, clock, fast, member_id, 300, "o1")
    clock.advance(timedelta(days=31))
    assert (await tiers(mongo, clock)).handled == 1
    assert await tier_of(mongo, member_id) == "member"


async def test_a_member_who_consented_gets_the_change_by_push_too(
    mongo: Mongo, clock: FrozenClock
) -> None:
    member_id = await member_at(mongo, clock)
    silent = (await create_member(mongo, clock, name="Silent", tier="member")).id
    for who in (member_id, silent):
        await register_push_token(mongo, clock, who, PushPlatform.IOS, f"device-token-{who}")
    await set_notification_consent(mongo, clock, member_id, True)
    await earn(mongo, clock, PROGRAM, member_id, 100, "o1")
    await earn(mongo, clock, PROGRAM, silent, 100, "o2")
    await route_new(mongo, clock, Links(b"k" * 32, "http://127.0.0.1"))
    [delivery] = [d async for d in mongo["messages"].find({"channel": "push", "status": "queued"})]
    assert (delivery["member_id"], delivery["kind"]) == (member_id, "tier_changed")
    assert delivery["devices"] == [{"platform": "ios", "token": f"device-token-{member_id}"}]


async def test_progress_kept_in_a_collection_of_its_own_moves_onto_the_accounts_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    member_id = await member_at(mongo, clock)
    await earn(mongo, clock, PROGRAM, member_id, 120, "o1")
    # as a database written before the progress was a tally on the account kept it
    account = await mongo["accounts"].find_one_and_update(
        {"_id": member_id}, {"$unset": {TALLY: ""}}
    )
    await mongo["tier_progress"].insert_one({"_id": member_id, **account[TALLY]})
    await mongo["meta"].delete_one({"_id": MOVED})
    assert await move_tier_progress(mongo) == 1
    assert await mongo["tier_progress"].count_documents({}) == 0
    assert await move_tier_progress(mongo) == 0
    progress = await get_tier_progress(
        mongo, PROGRAM, member_id=member_id, tier="silver", now=clock.now()
    )
    assert progress.qualifying_points == 120
    change = await earn(mongo, clock, PROGRAM, member_id, 200, "o2")
    assert change is not None and (change.seq, change.to_tier) == (2, "gold")
    clock.advance(timedelta(days=31))  # both left the window: the review still finds the member
    assert (await tiers(mongo, clock)).handled == 1
    assert await tier_of(mongo, member_id) == "silver"
