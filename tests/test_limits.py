"""The sliding-window rate limit against the real database: exact under races, sliding in time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.auth.limits import Limit, take
from app.clock import FrozenClock
from app.db import Mongo

MINUTE = timedelta(minutes=1)


async def test_parallel_first_requests_of_a_key_get_exactly_the_limit(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await asyncio.gather(*(mongo["rate_limits"].find_one({}) for _ in range(30)))  # open the pool
    for round_ in range(6):
        refusals = await asyncio.gather(
            *(take(mongo, clock, f"key {round_}", Limit(10, MINUTE)) for _ in range(30))
        )
        assert sum(refusal is None for refusal in refusals) == 10, round_


async def test_a_request_costing_more_than_is_left_waits_for_enough_to_leave(
    mongo: Mongo, clock: FrozenClock
) -> None:
    limit = Limit(3, MINUTE)
    start = clock.now()
    for _ in range(3):
        assert await take(mongo, clock, "k", limit) is None
        clock.advance(timedelta(seconds=10))
    refused = await take(mongo, clock, "k", limit, cost=2)
    assert refused is not None and refused.until == start + timedelta(seconds=70)
    assert (await take(mongo, clock, "k", limit, cost=4)) is not None  # never fits
    clock.set(start + timedelta(seconds=70))
    assert await take(mongo, clock, "k", limit, cost=2) is None
