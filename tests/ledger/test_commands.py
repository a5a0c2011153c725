"""What operations cost in database commands (counted, not timed: the test server is slow)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    Inactivity,
    Never,
    NextExpiry,
    OpeningEarn,
    Rolling,
    adjust,
    capture,
    earn,
    expire_due,
    get_balance,
    hold,
    open_books,
    release,
    reverse,
    spend,
)
from tests.ledger.conftest import CommandCounter, assert_invariants, earn_points, key, seed_earns


async def test_a_spend_touching_three_lots_is_one_transaction_of_six_commands(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    for days in (10, 20, 30, 40):
        await earn_points(mongo, clock, "m1", 10, policy=Rolling(days=days))
    handle, counter = counted
    entry = await spend(handle, clock, member_id="m1", points=25, idempotency_key=key())
    assert len(entry.lots) == 3
    assert counter.names == [
        "find",
        "find",
        "update",
        "update",
        "insert",
        "insert",
        "commitTransaction",
    ]


async def test_the_balance_is_one_read(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    await earn_points(mongo, clock, "m1", 10)
    handle, counter = counted
    assert (await get_balance(handle, "m1", clock.now())).available == 10
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
    assert (await get_balance(mongo, "m7", clock.now())).lifetime_expired == 25


async def _costs(
    handle: Mongo, clock: FrozenClock, counter: CommandCounter, member: str
) -> dict[str, list[str]]:
    """The commands of each operation, once, on `member`."""
    costs: dict[str, list[str]] = {}

    async def count(name: str, call: Awaitable[Any]) -> Any:
        counter.reset()
        result = await call
        costs[name] = list(counter.names)
        return result

    ttl = timedelta(minutes=5)
    earned = await count(
        "earn", earn(handle, clock, member_id=member, points=10, idempotency_key=key())
    )
    await count("spend", spend(handle, clock, member_id=member, points=150, idempotency_key=key()))
    held = await count(
        "hold", hold(handle, clock, member_id=member, points=150, ttl=ttl, idempotency_key=key())
    )
    await count("capture", capture(handle, clock, hold_id=held.id, idempotency_key=key()))
    held = await hold(handle, clock, member_id=member, points=10, ttl=ttl, idempotency_key=key())
    await count("release", release(handle, clock, hold_id=held.id))
    await count("reverse", reverse(handle, clock, entry_id=earned.id, idempotency_key=key()))
    for points in (-20, 20):
        await count(
            f"adjust {points:+}",
            adjust(
                handle,
                clock,
                member_id=member,
                points=points,
                reason="a correction",
                actor="staff",
                idempotency_key=key(),
            ),
        )
    return costs


@pytest.mark.parametrize(
    ("policy", "step"),
    [(Rolling(days=3650), timedelta(minutes=30)), (Never(), timedelta(0))],
    ids=["an-expiry-each", "one-expiry"],
)
async def test_every_operation_costs_the_same_commands_at_10_and_2_000_live_lots(
    mongo: Mongo,
    clock: FrozenClock,
    counted: tuple[Mongo, CommandCounter],
    policy: Rolling | Never,
    step: timedelta,
) -> None:
    start = clock.now() - timedelta(days=300)
    for size in (10, 2_000):  # far past the front (32 lots); bench/ledger.py times 10,000
        earns = [OpeningEarn(100, start + step * i, policy) for i in range(size)]
        await open_books(mongo, {f"m{size}": earns}, clock.now())
    handle, counter = counted
    small = await _costs(handle, clock, counter, "m10")
    large = await _costs(handle, clock, counter, "m2000")
    assert small == large
    # the account read and written at once (app.ledger.express), the lot, the entry, the commit
    # each ends with its events' one insert (app/event_log.py), in the same transaction
    assert large["earn"] == ["findAndModify", "insert", "insert", "insert", "commitTransaction"]
    assert large["spend"] == [
        "find",
        "find",
        "update",
        "update",
        "insert",
        "insert",
        "commitTransaction",
    ]
    # every one through the unit of work: what it reads, then one write per collection it changed
    assert large["hold"] == large["spend"]
    assert large["adjust -20"] == large["spend"]
    assert large["adjust +20"] == [
        "find",
        "update",
        "insert",
        "insert",
        "insert",
        "commitTransaction",
    ]
    assert large["capture"] == ["find"] * 3 + ["update"] * 3 + [
        "insert",
        "insert",
        "commitTransaction",
    ]
    assert large["release"] == ["find"] * 3 + ["update"] * 3 + ["insert", "commitTransaction"]
    await assert_invariants(mongo)


async def test_an_earn_renews_every_inactivity_lot_in_one_update(
    mongo: Mongo, clock: FrozenClock, counted: tuple[Mongo, CommandCounter]
) -> None:
    policy = Inactivity(months=18)
    earns = [OpeningEarn(10, clock.now() - timedelta(days=1), policy) for _ in range(1000)]
    await open_books(mongo, {"m1": earns}, clock.now())
    handle, counter = counted
    await earn(handle, clock, member_id="m1", points=10, policy=policy, idempotency_key=key())
    assert counter.names == [
        "find",
        "update",
        "update",
        "insert",
        "insert",
        "insert",
        "commitTransaction",
    ]
    renewed = await mongo["lots"].distinct("expires_at", {"member_id": "m1"})
    assert renewed == [datetime(2027, 7, 15, 9, 0, tzinfo=UTC)]  # 18 months after the earn
    balance = await get_balance(mongo, "m1", clock.now())
    assert balance.next_expiry == NextExpiry(datetime(2027, 7, 15, 9, 0, tzinfo=UTC), 10_010)
    await assert_invariants(mongo)
