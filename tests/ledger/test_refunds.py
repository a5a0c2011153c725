"""Refunds take the same points once, and debt is paid by any points that become available.

Worked examples of the rule in app/ledger/book.py: a refund takes back, from the refunded earn's
points, first what is still on its lot, then what was spent (from other lots, then debt); points
that already expired or were cleared are gone and are not taken again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    EntryKind,
    Refund,
    ReversalExceedsEarn,
    Rolling,
    clear,
    get_balance,
    list_entries,
    mature_due,
    reverse,
    spend,
)
from tests.ledger.conftest import assert_invariants, earn_points, key


async def test_refunding_an_earn_whose_points_expired_takes_nothing(
    mongo: Mongo, clock: FrozenClock
) -> None:
    first = await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=10))
    await earn_points(mongo, clock, "m1", 50)
    clock.advance(timedelta(days=11))
    entry = await reverse(mongo, clock, entry_id=first.id, idempotency_key=key())
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (50, 0)
    assert (entry.kind, entry.points, entry.debt_change) == (EntryKind.REVERSAL, 0, 0)
    assert entry.refund == Refund(100, 0, 0, 0, already_expired=100, already_cleared=0)
    assert entry.description is not None and "100 had already expired" in entry.description
    assert balance.lifetime_earned == 50  # the refunded order no longer counts as earned
    await assert_invariants(mongo)


async def test_refunding_an_earn_after_clearing_takes_nothing(
    mongo: Mongo, clock: FrozenClock
) -> None:
    first = await earn_points(mongo, clock, "m1", 100)
    await clear(mongo, clock, member_id="m1", reason="dormant", actor="ops", idempotency_key=key())
    await earn_points(mongo, clock, "m1", 30)
    entry = await reverse(mongo, clock, entry_id=first.id, idempotency_key=key())
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (30, 0)
    assert entry.refund == Refund(100, 0, 0, 0, already_expired=0, already_cleared=100)
    await assert_invariants(mongo)


async def test_partial_refunds_take_what_is_on_the_lot_then_what_was_spent_and_never_more(
    mongo: Mongo, clock: FrozenClock
) -> None:
    order = await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=10))
    await spend(mongo, clock, member_id="m1", points=40, idempotency_key=key())  # from the order
    await earn_points(mongo, clock, "m1", 25)  # never expires: what a refund can charge
    clock.advance(timedelta(days=11))  # the 60 left on the order's lot expire

    first = await reverse(mongo, clock, entry_id=order.id, points=50, idempotency_key=key())
    assert first.refund == Refund(50, 0, 25, 15, already_expired=10, already_cleared=0)
    assert (first.points, first.debt_change) == (-40, 15)
    second = await reverse(mongo, clock, entry_id=order.id, points=50, idempotency_key=key())
    assert second.refund == Refund(50, 0, 0, 0, already_expired=50, already_cleared=0)
    with pytest.raises(ReversalExceedsEarn):
        await reverse(mongo, clock, entry_id=order.id, points=1, idempotency_key=key())
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (0, 15)  # exactly the 40 spent, charged once
    await assert_invariants(mongo)


async def test_a_refund_takes_the_points_still_on_its_lot_before_charging_spent_ones(
    mongo: Mongo, clock: FrozenClock
) -> None:
    order = await earn_points(mongo, clock, "m1", 100)
    await spend(mongo, clock, member_id="m1", points=30, idempotency_key=key())
    entry = await reverse(mongo, clock, entry_id=order.id, points=80, idempotency_key=key())
    assert entry.refund == Refund(80, 70, 0, 10, already_expired=0, already_cleared=0)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (0, 10)
    await assert_invariants(mongo)


async def _owe_100_with_500_pending(mongo: Mongo, clock: FrozenClock) -> None:
    """Earn 100 available and 500 pending (7-day window), spend 100, refund the first earn."""
    first = await earn_points(mongo, clock, "m1", 100)
    await earn_points(mongo, clock, "m1", 500, available_at=clock.now() + timedelta(days=7))
    await spend(mongo, clock, member_id="m1", points=100, idempotency_key=key())
    await reverse(mongo, clock, entry_id=first.id, idempotency_key=key())


async def test_pending_points_pay_the_debt_when_they_mature(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await _owe_100_with_500_pending(mongo, clock)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending, balance.debt) == (0, 500, 100)

    clock.advance(timedelta(days=7))
    run = await mature_due(mongo, clock)
    assert run.lots == 1
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending, balance.debt) == (400, 0, 0)
    matured = await list_entries(mongo, "m1", kinds=(EntryKind.MATURE,))
    assert [(e.points, e.debt_change) for _, e in matured.entries] == [(0, -100)]
    await assert_invariants(mongo)


async def test_the_next_operation_matures_points_and_pays_debt_before_a_spend(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await _owe_100_with_500_pending(mongo, clock)
    clock.advance(timedelta(days=7))
    await spend(mongo, clock, member_id="m1", points=400, idempotency_key=key())  # no job ran
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt) == (0, 0)
    await assert_invariants(mongo)
