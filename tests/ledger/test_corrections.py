"""Reversals (refunds) with debt, manual adjustments, clearing and extending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import ObjectId

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    EntryKind,
    EntryNotFound,
    HoldStatus,
    InsufficientPoints,
    NextExpiry,
    ReversalExceedsEarn,
    Rolling,
    adjust,
    clear,
    expire_due,
    extend,
    get_balance,
    get_hold,
    hold,
    reverse,
    spend,
)
from tests.ledger.conftest import assert_invariants, earn_points, key


async def test_reversing_a_pending_earn_takes_its_points_back(
    mongo: Mongo, clock: FrozenClock
) -> None:
    earned = await earn_points(
        mongo, clock, "m1", 100, available_at=clock.now() + timedelta(days=7)
    )
    entry = await reverse(
        mongo, clock, entry_id=earned.id, points=40, idempotency_key=key(), reason="refund"
    )
    assert (entry.kind, entry.points, entry.reverses, entry.debt_change) == (
        EntryKind.REVERSAL,
        -40,
        earned.id,
        0,
    )
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.pending, balance.debt, balance.lifetime_earned) == (60, 0, 60)
    await reverse(mongo, clock, entry_id=earned.id, idempotency_key=key())  # the rest
    assert (await get_balance(mongo, "m1", clock.now())).pending == 0
    with pytest.raises(ReversalExceedsEarn):
        await reverse(mongo, clock, entry_id=earned.id, points=1, idempotency_key=key())
    await assert_invariants(mongo)


async def test_reversing_spent_points_records_debt_that_later_earns_pay_first(
    mongo: Mongo, clock: FrozenClock
) -> None:
    earned = await earn_points(mongo, clock, "m1", 100)
    await spend(mongo, clock, member_id="m1", points=80, idempotency_key=key())
    entry = await reverse(mongo, clock, entry_id=earned.id, idempotency_key=key())
    assert (entry.points, entry.debt_change) == (-100, 80)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (0, 80)
    lot = await mongo["lots"].find_one({"_id": ObjectId(earned.lots[0].lot_id)})
    assert lot is not None and lot["remaining"] == 0 and lot["status"] == "reversed"
    paying = await earn_points(mongo, clock, "m1", 50)
    assert (paying.debt_change, paying.balance_after) == (-50, 0)
    await earn_points(mongo, clock, "m1", 50)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (20, 0)
    await assert_invariants(mongo)


async def test_a_reversal_takes_other_available_points_before_going_into_debt(
    mongo: Mongo, clock: FrozenClock
) -> None:
    earned = await earn_points(mongo, clock, "m1", 100)
    await spend(mongo, clock, member_id="m1", points=100, idempotency_key=key())
    await earn_points(mongo, clock, "m1", 30)
    entry = await reverse(mongo, clock, entry_id=earned.id, points=50, idempotency_key=key())
    assert (entry.points, entry.debt_change, sum(s.points for s in entry.lots)) == (-50, 20, 30)
    with pytest.raises(ReversalExceedsEarn) as error:
        await reverse(mongo, clock, entry_id=earned.id, points=51, idempotency_key=key())
    assert error.value.reversible == 50
    with pytest.raises(EntryNotFound):
        await reverse(mongo, clock, entry_id=entry.id, idempotency_key=key())
    await assert_invariants(mongo)


async def test_adjustments_add_a_lot_or_take_points_with_reason_and_actor(
    mongo: Mongo, clock: FrozenClock
) -> None:
    plus = await adjust(
        mongo,
        clock,
        member_id="m1",
        points=25,
        reason="goodwill",
        actor="staff:7",
        idempotency_key=key(),
    )
    assert (plus.kind, plus.points, plus.description, plus.actor) == (
        EntryKind.ADJUST,
        25,
        "goodwill",
        "staff:7",
    )
    minus = await adjust(
        mongo,
        clock,
        member_id="m1",
        points=-10,
        reason="duplicate",
        actor="staff:7",
        idempotency_key=key(),
    )
    assert (minus.points, minus.balance_after) == (-10, 15)
    with pytest.raises(InsufficientPoints):
        await adjust(
            mongo,
            clock,
            member_id="m1",
            points=-16,
            reason="x",
            actor="staff:7",
            idempotency_key=key(),
        )
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.lifetime_earned, balance.lifetime_redeemed) == (15, 0, 0)
    await assert_invariants(mongo)


async def test_clear_takes_every_point_to_zero_and_releases_holds(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100)
    await earn_points(mongo, clock, "m1", 40, available_at=clock.now() + timedelta(days=3))
    reserved = await hold(
        mongo, clock, member_id="m1", points=30, ttl=timedelta(hours=1), idempotency_key=key()
    )
    entry = await clear(
        mongo,
        clock,
        member_id="m1",
        reason="account closed",
        actor="staff:1",
        idempotency_key=key(),
    )
    assert (entry.kind, entry.points, entry.balance_after) == (EntryKind.CLEAR, -140, 0)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending, balance.held) == (0, 0, 0)
    assert (await get_hold(mongo, reserved.id)).status is HoldStatus.RELEASED
    await assert_invariants(mongo)


async def test_extend_moves_the_expiry_of_lots_expiring_sooner(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 10, policy=Rolling(days=10))
    await earn_points(mongo, clock, "m1", 20, policy=Rolling(days=100))
    until = clock.now() + timedelta(days=50)
    entry = await extend(
        mongo,
        clock,
        member_id="m1",
        until=until,
        reason="outage",
        actor="staff:2",
        idempotency_key=key(),
    )
    assert (entry.kind, entry.points, entry.extended_to, len(entry.lots)) == (
        EntryKind.EXTEND,
        0,
        until,
        1,
    )
    assert (await get_balance(mongo, "m1", clock.now())).next_expiry == NextExpiry(until, 10)
    clock.advance(timedelta(days=10))
    assert (await expire_due(mongo, clock)).lots == 0
    await assert_invariants(mongo)
