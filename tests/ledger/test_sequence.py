"""Every ledger entry is numbered per member, 1, 2, 3, ... without gaps, in recording order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Rolling, earn
from tests.ledger.conftest import assert_invariants, earn_points, key


async def numbered(mongo: Mongo, member_id: str) -> list[tuple[int, str, int]]:
    """(seq, kind, balance_after) of the member's entries in sequence order."""
    entries = mongo["ledger"].find({"member_id": member_id}).sort("seq", 1)
    return [(doc["seq"], doc["kind"], doc["balance_after"]) async for doc in entries]


async def test_fifty_concurrent_earns_of_one_member_are_numbered_one_to_fifty(
    mongo: Mongo, clock: FrozenClock
) -> None:
    def earn_one(member_id: str):
        return earn(mongo, clock, member_id=member_id, points=1, idempotency_key=key("race"))

    await asyncio.gather(*(earn_one("m1") for _ in range(50)), *(earn_one("m2") for _ in range(10)))
    # Numbered in commit order: each earn saw the ones before it, so balances climb one by one.
    assert await numbered(mongo, "m1") == [(n, "EARN", n) for n in range(1, 51)]
    assert await numbered(mongo, "m2") == [(n, "EARN", n) for n in range(1, 11)]
    account = await mongo["accounts"].find_one({"_id": "m1"})
    assert account["seq"] == 50
    await assert_invariants(mongo)


async def test_entries_an_operation_writes_on_its_way_are_numbered_too(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 10, policy=Rolling(days=1))
    clock.advance(timedelta(days=2))
    await earn_points(mongo, clock, "m1", 5)  # catches the book up first: the 10 expire
    assert await numbered(mongo, "m1") == [(1, "EARN", 10), (2, "EXPIRE", 0), (3, "EARN", 5)]
