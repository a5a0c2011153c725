"""What operations cost in database commands (counted, not timed: the test server is slow)."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import expire_due, get_balance, spend
from app.program.expiry import Rolling
from tests.ledger.conftest import CommandCounter, assert_invariants, earn_points, key, seed_earns


async def test_a_spend_touching_three_lots_is_one_transaction_of_six_commands(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    for days in (10, 20, 30, 40):
        await earn_points(mongo, clock, "m1", 10, policy=Rolling(days=days))
    handle, counter = counted
    entry = await spend(handle, clock, member_id="m1", points=25, idempotency_key=key())
    assert len(entry.lots) == 3
    assert counter.names == ["find", "find", "update", "update", "insert", "commitTransaction"]


async def test_the_balance_is_one_read(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    await earn_points(mongo, clock, "m1", 10)
    handle, counter = counted
    assert (await get_balance(handle, "m1")).available == 10
    assert counter.names == ["find"]


async def test_expire_costs_at_most_ten_commands_per_thousand_lots(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    await seed_earns(mongo, clock, members=200, lots_each=5, points=5, policy=Rolling(days=1))
    clock.advance(timedelta(days=1))
    handle, counter = counted
    run = await expire_due(handle, clock, batch_size=1000)
    assert (run.lots, run.points, run.batches) == (1000, 5000, 1)
    assert counter.count <= 10, counter.names
    await assert_invariants(mongo)
    assert (await get_balance(mongo, "m7")).lifetime_expired == 25
