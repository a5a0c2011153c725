"""Every mutating operation is idempotent: a replay returns the first result and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    IdempotencyConflict,
    adjust,
    capture,
    clear,
    earn,
    extend,
    hold,
    reverse,
    spend,
)
from tests.ledger.conftest import assert_invariants, earn_points


async def snapshot(mongo: Mongo) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [doc async for doc in mongo[name].find().sort("_id")]
        for name in ("accounts", "lots", "ledger", "holds")
    }


async def replay_changes_nothing(mongo: Mongo, call: Callable[[], Awaitable[Any]]) -> None:
    first = await call()
    before = await snapshot(mongo)
    assert await call() == first
    assert await snapshot(mongo) == before
    await assert_invariants(mongo)


async def test_replayed_earn_returns_the_first_entry(mongo: Mongo, clock: FrozenClock) -> None:
    await replay_changes_nothing(
        mongo, lambda: earn(mongo, clock, member_id="m1", points=10, idempotency_key="e1")
    )


async def test_replayed_spend_returns_the_first_entry_even_when_the_points_are_gone(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 10)
    await replay_changes_nothing(
        mongo, lambda: spend(mongo, clock, member_id="m1", points=10, idempotency_key="s1")
    )


async def test_replayed_hold_and_capture_return_the_first_results(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 10)

    async def reserve() -> Any:
        return await hold(
            mongo, clock, member_id="m1", points=10, ttl=timedelta(minutes=5), idempotency_key="h1"
        )

    await replay_changes_nothing(mongo, reserve)
    reserved = await reserve()
    await replay_changes_nothing(
        mongo, lambda: capture(mongo, clock, hold_id=reserved.id, idempotency_key="c1")
    )


async def test_replayed_corrections_return_the_first_entries(
    mongo: Mongo, clock: FrozenClock
) -> None:
    earned = await earn_points(mongo, clock, "m1", 100)
    await replay_changes_nothing(
        mongo,
        lambda: adjust(
            mongo,
            clock,
            member_id="m1",
            points=-5,
            reason="r",
            idempotency_key="a1",
            actor="staff:1",
        ),
    )
    await replay_changes_nothing(
        mongo, lambda: reverse(mongo, clock, entry_id=earned.id, points=10, idempotency_key="r1")
    )
    until = clock.now() + timedelta(days=9)
    await replay_changes_nothing(
        mongo,
        lambda: extend(
            mongo,
            clock,
            member_id="m1",
            until=until,
            reason="r",
            idempotency_key="x1",
            actor="staff:1",
        ),
    )
    await replay_changes_nothing(
        mongo,
        lambda: clear(
            mongo, clock, member_id="m1", reason="r", idempotency_key="z1", actor="staff:1"
        ),
    )


async def test_a_key_reused_for_a_different_request_is_a_conflict(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn(mongo, clock, member_id="m1", points=10, idempotency_key="k")
    with pytest.raises(IdempotencyConflict) as error:
        await earn(mongo, clock, member_id="m1", points=11, idempotency_key="k")
    assert error.value.idempotency_key == "k"
    with pytest.raises(IdempotencyConflict):
        await spend(mongo, clock, member_id="m1", points=10, idempotency_key="k")
    await hold(
        mongo, clock, member_id="m1", points=1, ttl=timedelta(minutes=1), idempotency_key="h"
    )
    with pytest.raises(IdempotencyConflict):
        await hold(
            mongo, clock, member_id="m1", points=2, ttl=timedelta(minutes=1), idempotency_key="h"
        )
    await assert_invariants(mongo)


async def test_a_replay_equals_the_first_result_though_the_database_keeps_only_milliseconds(
    mongo: Mongo,
) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC))
    first = await earn(mongo, clock, member_id="m1", points=5, idempotency_key="ms")
    assert first.occurred_at.microsecond == 123000
    clock.advance(timedelta(seconds=1))
    assert await earn(mongo, clock, member_id="m1", points=5, idempotency_key="ms") == first
