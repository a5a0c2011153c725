"""Holds: reserve for a checkout, capture all or part, release the rest, and expire by TTL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    CaptureExceedsHold,
    EntryKind,
    HoldNotActive,
    HoldNotFound,
    HoldStatus,
    InsufficientPoints,
    Rolling,
    capture,
    clear,
    expire_due,
    get_balance,
    get_hold,
    hold,
    list_entries,
    release,
    release_expired_holds,
    spend,
)
from tests.ledger.conftest import assert_invariants, earn_points, key

TTL = timedelta(minutes=15)


async def test_held_points_are_not_spendable(mongo: Mongo, clock: FrozenClock) -> None:
    await earn_points(mongo, clock, "m1", 100)
    reserved = await hold(
        mongo, clock, member_id="m1", points=70, ttl=TTL, idempotency_key=key(), reference="cart-1"
    )
    assert (reserved.status, reserved.points, reserved.expires_at) == (
        HoldStatus.ACTIVE,
        70,
        clock.now() + TTL,
    )
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held) == (30, 70)
    with pytest.raises(InsufficientPoints) as error:
        await spend(mongo, clock, member_id="m1", points=31, idempotency_key=key())
    assert error.value.available == 30
    await assert_invariants(mongo)


async def test_capture_part_of_a_hold_redeems_it_and_releases_the_rest(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100)
    reserved = await hold(mongo, clock, member_id="m1", points=60, ttl=TTL, idempotency_key=key())
    entry = await capture(mongo, clock, hold_id=reserved.id, points=45, idempotency_key=key())
    assert (entry.kind, entry.points, entry.hold_id, entry.balance_after) == (
        EntryKind.REDEEM,
        -45,
        reserved.id,
        55,
    )
    closed = await get_hold(mongo, reserved.id)
    assert (closed.status, closed.captured, closed.capture_entry_id) == (
        HoldStatus.CAPTURED,
        45,
        entry.id,
    )
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held, balance.lifetime_redeemed) == (55, 0, 45)
    with pytest.raises(HoldNotActive):
        await capture(mongo, clock, hold_id=reserved.id, idempotency_key=key())
    with pytest.raises(HoldNotActive):
        await release(mongo, clock, hold_id=reserved.id)
    await assert_invariants(mongo)


async def test_capture_cannot_exceed_the_hold(mongo: Mongo, clock: FrozenClock) -> None:
    await earn_points(mongo, clock, "m1", 100)
    reserved = await hold(mongo, clock, member_id="m1", points=10, ttl=TTL, idempotency_key=key())
    with pytest.raises(CaptureExceedsHold) as error:
        await capture(mongo, clock, hold_id=reserved.id, points=11, idempotency_key=key())
    assert (error.value.held, error.value.requested) == (10, 11)
    with pytest.raises(HoldNotFound):
        await capture(mongo, clock, hold_id="not-an-id", idempotency_key=key())


async def test_release_gives_the_points_back_once(mongo: Mongo, clock: FrozenClock) -> None:
    await earn_points(mongo, clock, "m1", 100)
    reserved = await hold(mongo, clock, member_id="m1", points=40, ttl=TTL, idempotency_key=key())
    assert (await release(mongo, clock, hold_id=reserved.id)).status is HoldStatus.RELEASED
    again = await release(mongo, clock, hold_id=reserved.id)
    assert again.status is HoldStatus.RELEASED
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held) == (100, 0)
    await assert_invariants(mongo)


async def test_expired_holds_are_released_by_the_job_and_cannot_be_captured(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100)
    await earn_points(mongo, clock, "m2", 100)
    first = await hold(mongo, clock, member_id="m1", points=40, ttl=TTL, idempotency_key=key())
    await hold(mongo, clock, member_id="m2", points=30, ttl=TTL, idempotency_key=key())
    await hold(mongo, clock, member_id="m2", points=30, ttl=TTL * 4, idempotency_key=key())
    clock.advance(TTL)
    with pytest.raises(HoldNotActive) as error:
        await capture(mongo, clock, hold_id=first.id, idempotency_key=key())
    assert error.value.status == "expired"
    run = await release_expired_holds(mongo, clock, batch_size=1)
    assert (run.holds, run.points, run.members, run.batches) == (2, 70, 2, 2)
    assert (await get_hold(mongo, first.id)).status is HoldStatus.EXPIRED
    assert [(await get_balance(mongo, m, clock.now())).held for m in ("m1", "m2")] == [0, 30]
    assert (await release_expired_holds(mongo, clock)).holds == 0
    await assert_invariants(mongo)


async def test_points_held_when_their_lot_expires_expire_on_release_not_before(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=1))
    reserved = await hold(
        mongo, clock, member_id="m1", points=60, ttl=timedelta(days=2), idempotency_key=key()
    )
    clock.advance(timedelta(days=1))
    run = await expire_due(mongo, clock)
    assert (run.lots, run.points) == (1, 40)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held, balance.lifetime_expired) == (0, 60, 40)
    await assert_invariants(mongo)
    await release(mongo, clock, hold_id=reserved.id)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held, balance.lifetime_expired) == (0, 0, 100)
    expired = await list_entries(mongo, "m1", kinds=(EntryKind.EXPIRE,))
    assert sorted(e.points for _, e in expired.entries) == [
        -60,
        -40,
    ]
    await assert_invariants(mongo)


async def test_points_held_when_their_lot_expires_can_still_be_captured(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=1))
    reserved = await hold(
        mongo, clock, member_id="m1", points=60, ttl=timedelta(days=2), idempotency_key=key()
    )
    clock.advance(timedelta(days=1))
    await capture(mongo, clock, hold_id=reserved.id, points=50, idempotency_key=key())
    balance = await get_balance(mongo, "m1", clock.now())
    assert (
        balance.available,
        balance.held,
        balance.lifetime_redeemed,
        balance.lifetime_expired,
    ) == (0, 0, 50, 50)
    assert (await expire_due(mongo, clock)).lots == 0
    await assert_invariants(mongo)


async def test_clearing_releases_a_hold_whose_lot_expired_and_its_points_expire_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=1))
    held = await hold(
        mongo, clock, member_id="m1", points=40, ttl=timedelta(days=5), idempotency_key=key()
    )
    clock.advance(timedelta(days=2))
    await expire_due(mongo, clock)  # 60 expire; the 40 held stay on the expired lot
    await clear(mongo, clock, member_id="m1", reason="closed", actor="ops", idempotency_key=key())
    assert (await get_hold(mongo, held.id)).status is HoldStatus.RELEASED
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held, balance.lifetime_expired) == (0, 0, 100)
    await assert_invariants(mongo)
