"""The ledger's unit of work: ledger operations inside the caller's own transaction, idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    Entry,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    LedgerUnit,
    get_balance,
    run_in_ledger,
)
from app.program.expiry import Rolling
from tests.ledger.conftest import assert_invariants, earn_points


class Refused(Exception):
    """The caller's own refusal, raised after the points were spent."""


async def buy(mongo: Mongo, clock: FrozenClock, key: str, points: int, *, refuse: bool = False):
    """A caller's order: spend, then write its own document in the same transaction."""

    async def work(unit: LedgerUnit) -> str:
        entry = await unit.spend("m1", points, reference="order", extra={"order_id": key})
        await mongo["orders"].insert_one(
            {"_id": key, "entry_id": entry.id, "at": unit.now}, session=unit.session
        )
        if refuse:
            raise Refused()
        return key

    async def first_order(entry: Entry) -> str:
        order = await mongo["orders"].find_one({"entry_id": entry.id})
        return f"replayed {order['_id']}"

    return await run_in_ledger(
        mongo, clock, work, idempotency_key=f"order:{key}", fingerprint=f"{points}",
        replay=first_order,
    )  # fmt: skip


async def test_the_spend_and_the_callers_write_commit_together(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100)
    assert await buy(mongo, clock, "o1", 30) == "o1"
    assert (await get_balance(mongo, "m1")).available == 70
    entry = await mongo["ledger"].find_one({"kind": "REDEEM"})
    assert (entry["idempotency_key"], entry["order_id"], entry["seq"]) == ("order:o1", "o1", 2)
    assert await mongo["orders"].count_documents({"entry_id": str(entry["_id"])}) == 1
    await assert_invariants(mongo)


async def test_a_refusal_after_the_spend_changes_nothing(mongo: Mongo, clock: FrozenClock) -> None:
    await earn_points(mongo, clock, "m1", 100)
    with pytest.raises(Refused):
        await buy(mongo, clock, "o1", 30, refuse=True)
    with pytest.raises(InsufficientPoints):
        await buy(mongo, clock, "o2", 300)
    assert (await get_balance(mongo, "m1")).available == 100
    assert await mongo["orders"].count_documents({}) == 0
    assert await mongo["ledger"].count_documents({}) == 1


async def test_a_replay_returns_the_first_result_and_another_request_is_a_conflict(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 50)
    assert await buy(mongo, clock, "o1", 30) == "o1"
    # The 20 points left cannot pay 30 again: the replay is refused, then answered all the same.
    assert await buy(mongo, clock, "o1", 30) == "replayed o1"
    with pytest.raises(IdempotencyConflict):
        await buy(mongo, clock, "o1", 10)
    assert (await get_balance(mongo, "m1")).available == 20
    assert await mongo["orders"].count_documents({}) == 1
    await assert_invariants(mongo)


async def test_a_unit_that_records_nothing_is_refused(mongo: Mongo, clock: FrozenClock) -> None:
    async def nothing(unit: LedgerUnit) -> None:
        await mongo["orders"].insert_one({"_id": "o1"}, session=unit.session)

    async def never(entry: Entry) -> None:
        raise AssertionError("no entry, no replay")

    with pytest.raises(InvalidRequest):
        await run_in_ledger(
            mongo, clock, nothing, idempotency_key="k", fingerprint="f", replay=never
        )
    assert await mongo["orders"].count_documents({}) == 0


async def test_a_unit_can_earn_and_spend_for_two_members_at_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100)

    async def gift(unit: LedgerUnit) -> tuple[Entry, Entry]:
        given = await unit.spend("m1", 40, reference="gift to m2")
        received = await unit.earn("m2", 40, policy=Rolling(days=30), reference="gift from m1")
        return given, received

    async def never(entry: Entry) -> tuple[Entry, Entry]:
        raise AssertionError("not replayed")

    given, received = await run_in_ledger(
        mongo, clock, gift, idempotency_key="gift:1", fingerprint="40", replay=never
    )
    assert (given.idempotency_key, received.idempotency_key) == ("gift:1", "gift:1#2")
    assert received.lots[0].points == 40
    assert [(await get_balance(mongo, m)).available for m in ("m1", "m2")] == [60, 40]
    lot = await mongo["lots"].find_one({"member_id": "m2"})
    assert lot["expires_at"] == clock.now() + timedelta(days=30)
    await assert_invariants(mongo)
