"""Earning, maturing, spending and expiring, one member at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    BreakdownLine,
    EntryKind,
    ExpiryPolicySet,
    Inactivity,
    InsufficientPoints,
    InvalidPoints,
    NextExpiry,
    PeriodEnd,
    Rolling,
    expire_due,
    get_balance,
    list_entries,
    mature_due,
    spend,
)
from tests.ledger.conftest import assert_invariants, earn_points, key


async def test_earn_credits_a_lot_and_an_entry_with_its_breakdown(
    mongo: Mongo, clock: FrozenClock
) -> None:
    lines = (
        BreakdownLine("base", "1 point per yuan", 80),
        BreakdownLine("double-days", "x2 campaign", 20),
    )
    entry = await earn_points(
        mongo, clock, "m1", 100, breakdown=lines, reference="order-1", actor="pos"
    )
    assert (entry.kind, entry.points, entry.balance_after, entry.breakdown) == (
        EntryKind.EARN,
        100,
        100,
        lines,
    )
    lot = await mongo["lots"].find_one({"_id": ObjectId(entry.lots[0].lot_id)})
    assert lot is not None and lot["source_entry_id"] == ObjectId(entry.id)
    assert lot is not None and (lot["amount"], lot["remaining"], lot["status"]) == (
        100,
        100,
        "available",
    )
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.lifetime_earned, balance.last_activity_at) == (
        100,
        100,
        clock.now(),
    )
    await assert_invariants(mongo)


async def test_breakdown_must_add_up_to_the_points(mongo: Mongo, clock: FrozenClock) -> None:
    with pytest.raises(InvalidPoints):
        await earn_points(mongo, clock, "m1", 100, breakdown=(BreakdownLine("base", "", 90),))
    with pytest.raises(InvalidPoints):
        await earn_points(mongo, clock, "m1", 0)


async def test_points_stay_pending_until_the_return_window_closes(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, available_at=clock.now() + timedelta(days=7))
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending) == (0, 100)
    with pytest.raises(InsufficientPoints) as error:
        await spend(mongo, clock, member_id="m1", points=10, idempotency_key=key())
    assert (error.value.available, error.value.requested) == (0, 10)
    clock.advance(timedelta(days=7))
    run = await mature_due(mongo, clock)
    assert (run.lots, run.points, run.done) == (1, 100, True)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending) == (100, 0)
    assert (await mature_due(mongo, clock)).lots == 0
    await assert_invariants(mongo)


async def test_spend_takes_soonest_expiring_lot_first_then_oldest(
    mongo: Mongo, clock: FrozenClock
) -> None:
    never = await earn_points(mongo, clock, "m1", 100)
    clock.advance(timedelta(hours=1))
    late = await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=300))
    soon = await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=30))
    entry = await spend(
        mongo, clock, member_id="m1", points=250, idempotency_key=key(), reference="order-9"
    )
    assert entry.kind is EntryKind.REDEEM and entry.points == -250 and entry.balance_after == 50
    assert [(s.lot_id, s.points) for s in entry.lots] == [
        (soon.lots[0].lot_id, 100),
        (late.lots[0].lot_id, 100),
        (never.lots[0].lot_id, 50),
    ]
    assert (await get_balance(mongo, "m1", clock.now())).lifetime_redeemed == 250
    await assert_invariants(mongo)


async def test_not_enough_points_is_a_typed_error_and_changes_nothing(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 30)
    before = await get_balance(mongo, "m1", clock.now())
    with pytest.raises(InsufficientPoints) as error:
        await spend(mongo, clock, member_id="m1", points=31, idempotency_key=key())
    assert (error.value.available, error.value.requested) == (30, 31)
    assert await get_balance(mongo, "m1", clock.now()) == before
    assert await mongo["ledger"].count_documents({"kind": "REDEEM"}) == 0
    with pytest.raises(InsufficientPoints):
        await spend(mongo, clock, member_id="nobody", points=1, idempotency_key=key())


async def test_expiry_is_stamped_at_issue_so_a_program_change_never_moves_it(
    mongo: Mongo, clock: FrozenClock
) -> None:
    v1 = ExpiryPolicySet(default=Rolling(days=30), version=1)
    v2 = ExpiryPolicySet(default=Rolling(days=365), version=2)
    first = await earn_points(
        mongo, clock, "m1", 10, policy=v1.for_tier("base"), policy_version=v1.version
    )
    second = await earn_points(
        mongo, clock, "m1", 10, policy=v2.for_tier("base"), policy_version=v2.version
    )
    lots = {doc["source_entry_id"]: doc async for doc in mongo["lots"].find()}
    one, two = (lots[ObjectId(e.id)] for e in (first, second))
    assert one["expires_at"] == clock.now() + timedelta(days=30)
    assert one["policy"] == {"kind": "rolling", "params": {"days": 30}, "version": 1, "tz": "UTC"}
    assert two["expires_at"] == clock.now() + timedelta(days=365) and two["policy"]["version"] == 2
    balance = await get_balance(mongo, "m1", clock.now())
    assert balance.next_expiry == NextExpiry(clock.now() + timedelta(days=30), 10)


async def test_expire_takes_the_remaining_points_of_due_lots_exactly_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    year_end = PeriodEnd(period="year", periods_after=1)
    await earn_points(mongo, clock, "m1", 100, policy=year_end, tz="Asia/Shanghai")
    await earn_points(mongo, clock, "m1", 50, policy=year_end, tz="Asia/Shanghai")
    await earn_points(mongo, clock, "m1", 20)
    await spend(mongo, clock, member_id="m1", points=30, idempotency_key=key())
    end = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    assert (await get_balance(mongo, "m1", clock.now())).next_expiry == NextExpiry(end, 120)
    assert (await expire_due(mongo, clock, as_of=end - timedelta(microseconds=1000))).lots == 0
    run = await expire_due(mongo, clock, as_of=end)
    assert (run.lots, run.points, run.members) == (2, 120, 1)
    assert (await expire_due(mongo, clock, as_of=end)).lots == 0
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.lifetime_expired, balance.next_expiry) == (20, 120, None)
    expired = await list_entries(mongo, "m1", kinds=(EntryKind.EXPIRE,))
    assert sorted(e.points for _, e in expired.entries) == [-70, -50]
    await assert_invariants(mongo)


async def test_a_spend_never_uses_points_whose_expiry_has_passed(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=1))
    clock.advance(timedelta(days=1))
    with pytest.raises(InsufficientPoints) as error:
        await spend(mongo, clock, member_id="m1", points=10, idempotency_key=key())
    assert error.value.available == 0
    await earn_points(mongo, clock, "m1", 5)  # the next write expires the lot on its way
    assert (await get_balance(mongo, "m1", clock.now())).lifetime_expired == 100
    assert (await expire_due(mongo, clock)).lots == 0
    await assert_invariants(mongo)


async def test_inactivity_expires_everything_after_days_without_earn_or_spend(
    mongo: Mongo, clock: FrozenClock
) -> None:
    policy = Inactivity(days=90)
    await earn_points(mongo, clock, "m1", 100, policy=policy)
    clock.advance(timedelta(days=60))
    await earn_points(mongo, clock, "m1", 10, policy=policy)
    clock.advance(timedelta(days=60))
    await spend(
        mongo, clock, member_id="m1", points=5, idempotency_key=key()
    )  # resets the clock again
    clock.advance(timedelta(days=89))
    assert (await expire_due(mongo, clock)).lots == 0
    assert (await get_balance(mongo, "m1", clock.now())).next_expiry == NextExpiry(
        clock.now() + timedelta(days=1), 105
    )
    clock.advance(timedelta(days=1))
    run = await expire_due(mongo, clock)
    assert (run.lots, run.points) == (2, 105)
    await assert_invariants(mongo)


async def test_an_earn_posted_late_renews_inactivity_from_when_it_was_earned(
    mongo: Mongo, clock: FrozenClock
) -> None:
    # README: occurredAt may lie in the past and the points' expiry counts from it; a partner's
    # delay in posting must not extend the member's points (it did: the clock restarted at posting).
    policy = Inactivity(days=90)
    start = clock.now()
    await earn_points(mongo, clock, "m1", 100, policy=policy)
    clock.advance(timedelta(days=30))
    await earn_points(mongo, clock, "m1", 10, policy=policy, earned_at=start + timedelta(days=20))
    balance = await get_balance(mongo, "m1", clock.now())
    assert balance.next_expiry == NextExpiry(start + timedelta(days=110), 110)
    assert balance.last_activity_at == start + timedelta(days=20)
    # Posted late but earned before the last activity: nothing moves earlier.
    await earn_points(mongo, clock, "m1", 1, policy=policy, earned_at=start + timedelta(days=5))
    balance = await get_balance(mongo, "m1", clock.now())
    assert balance.next_expiry == NextExpiry(start + timedelta(days=110), 111)
    assert balance.last_activity_at == start + timedelta(days=20)
    await assert_invariants(mongo)


async def test_entries_page_newest_first(mongo: Mongo, clock: FrozenClock) -> None:
    for points in (1, 2, 3):
        await earn_points(mongo, clock, "m1", points)
    first = await list_entries(mongo, "m1", first=2)
    assert [(seq, e.points) for seq, e in first.entries] == [(3, 3), (2, 2)]
    assert first.has_more
    rest = await list_entries(mongo, "m1", first=2, before=2)
    assert [(seq, e.points) for seq, e in rest.entries] == [(1, 1)]
    assert not rest.has_more
