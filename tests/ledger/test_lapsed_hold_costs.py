"""What releasing lapsed holds on arrival costs: nothing until a hold's TTL has passed (the
account's hold_due says when), then the member's active holds and their lots, once."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import get_balance, hold, release_expired_holds
from tests.ledger.conftest import CommandCounter, assert_invariants, earn_points, key

TTL = timedelta(minutes=1)
HOLD = ["find", "find", "update", "update", "insert", "insert", "commitTransaction"]  # + its event


async def test_a_balance_read_and_a_hold_cost_the_same_while_no_hold_has_lapsed(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    await earn_points(mongo, clock, "m1", 3_000)
    handle, counter = counted
    assert (await get_balance(handle, "m1", clock.now())).available == 3_000
    assert counter.names == ["find"]
    counter.reset()
    await hold(handle, clock, member_id="m1", points=1_000, ttl=TTL, idempotency_key=key())
    assert counter.names == HOLD
    counter.reset()
    assert (await get_balance(handle, "m1", clock.now())).held == 1_000
    assert counter.names == ["find"]  # a hold not yet lapsed costs a read nothing
    counter.reset()
    await hold(handle, clock, member_id="m1", points=1_000, ttl=TTL, idempotency_key=key())
    assert counter.names == HOLD
    await assert_invariants(mongo)


async def test_after_a_lapse_a_read_looks_at_the_holds_and_a_write_releases_them_once(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    await earn_points(mongo, clock, "m1", 3_000)
    await hold(mongo, clock, member_id="m1", points=3_000, ttl=TTL, idempotency_key=key())
    clock.advance(2 * TTL)
    handle, counter = counted
    balance = await get_balance(handle, "m1", clock.now())
    assert (balance.available, balance.held) == (3_000, 0)
    assert counter.names == ["find", "find", "find"]  # the account, its active holds, their lots
    counter.reset()
    await hold(handle, clock, member_id="m1", points=3_000, ttl=TTL, idempotency_key=key())
    assert counter.names == [
        "find",  # the account
        "find",  # its active holds
        "find",  # the lapsed hold's lots
        "update",  # the account
        "update",  # the lots
        "update",  # the lapsed hold, expired
        "insert",  # the new hold
        "insert",  # the events: the lapsed hold released, the new one held (app/event_log.py)
        "commitTransaction",
    ]
    counter.reset()
    assert (await get_balance(handle, "m1", clock.now())).held == 3_000
    assert counter.names == ["find"]  # hold_due is the new hold's TTL again
    assert (await release_expired_holds(mongo, clock)).holds == 0
    await assert_invariants(mongo)
