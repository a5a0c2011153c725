"""The ledger's unit of work: ledger operations inside the caller's own transaction, idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    Entry,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidPoints,
    InvalidRequest,
    LedgerUnit,
    ReversalExceedsEarn,
    Rolling,
    expire_due,
    get_balance,
    hold,
    run_in_ledger,
)
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
        mongo,
        clock,
        work,
        idempotency_key=f"order:{key}",
        fingerprint=f"{points}",
        replay=first_order,
    )


async def test_the_spend_and_the_callers_write_commit_together(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100)
    assert await buy(mongo, clock, "o1", 30) == "o1"
    assert (await get_balance(mongo, "m1", clock.now())).available == 70
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
    assert (await get_balance(mongo, "m1", clock.now())).available == 100
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
    assert (await get_balance(mongo, "m1", clock.now())).available == 20
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
    assert [(await get_balance(mongo, m, clock.now())).available for m in ("m1", "m2")] == [60, 40]
    lot = await mongo["lots"].find_one({"member_id": "m2"})
    assert lot["expires_at"] == clock.now() + timedelta(days=30)
    await assert_invariants(mongo)


async def test_a_unit_earns_with_a_breakdown_dated_when_the_purchase_happened(
    mongo: Mongo, clock: FrozenClock
) -> None:
    from app.ledger import BreakdownLine

    bought = clock.now() - timedelta(days=3)
    rows = [BreakdownLine("base", "1 per CNY", 80, "L1", 4), BreakdownLine("bonus", "+20", 20)]

    async def purchase(unit: LedgerUnit) -> Entry:
        return await unit.earn("m1", 100, policy=Rolling(days=10), earned_at=bought, breakdown=rows)

    async def never(entry: Entry) -> Entry:
        raise AssertionError("not replayed")

    entry = await run_in_ledger(
        mongo, clock, purchase, idempotency_key="p:1", fingerprint="f", replay=never
    )
    assert entry.breakdown == tuple(rows)
    lot = await mongo["lots"].find_one({"member_id": "m1"})
    assert lot["expires_at"] == bought + timedelta(days=10)
    await assert_invariants(mongo)


async def test_a_unit_reverses_an_earn_and_credits_points_back_in_one_transaction(
    mongo: Mongo, clock: FrozenClock
) -> None:
    earned = await earn_points(mongo, clock, "m1", 100)
    await earn_points(mongo, clock, "m1", 50)
    await buy(mongo, clock, "o1", 120)  # spends the whole first earn and 20 of the second

    async def refund(unit: LedgerUnit) -> tuple[Entry, Entry]:
        reversal = await unit.reverse(earned.id, 60, reason="refund of 60")
        credit = await unit.credit("m1", 25, reason="points that paid, given back")
        await mongo["refunds"].insert_one({"_id": "r1"}, session=unit.session)
        return reversal, credit

    async def first(entry: Entry) -> tuple[Entry, Entry]:
        raise AssertionError("not replayed")

    reversal, credit = await run_in_ledger(
        mongo, clock, refund, idempotency_key="refund:r1", fingerprint="f", replay=first
    )
    # 60 refunded, all of it already spent: 30 from the other points, 30 as debt; then the
    # credit of 25 pays debt first.
    assert (reversal.points, reversal.debt_change) == (-60, 30)
    assert (credit.kind.value, credit.points) == ("ADJUST", 25)
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.debt, balance.lifetime_earned) == (0, 5, 90)
    with pytest.raises(ReversalExceedsEarn):
        await run_in_ledger(
            mongo,
            clock,
            lambda unit: unit.reverse(earned.id, 41),
            idempotency_key="refund:r2",
            fingerprint="f",
            replay=first,
        )
    await assert_invariants(mongo)


async def test_a_unit_captures_part_of_a_hold_with_the_callers_write_or_not_at_all(
    mongo: Mongo, clock: FrozenClock
) -> None:
    from app.ledger import get_hold, hold

    await earn_points(mongo, clock, "m1", 100)
    held = await hold(
        mongo,
        clock,
        member_id="m1",
        points=60,
        ttl=timedelta(minutes=5),
        idempotency_key="h1",
        reference="order-1",
    )

    async def pay(unit: LedgerUnit, refuse: bool) -> Entry:
        entry = await unit.capture(held.id, 40)
        await mongo["payments"].insert_one({"_id": entry.id}, session=unit.session)
        if refuse:
            raise Refused()
        return entry

    async def first(entry: Entry) -> Entry:
        return entry

    with pytest.raises(Refused):
        await run_in_ledger(
            mongo,
            clock,
            lambda unit: pay(unit, True),
            idempotency_key="pay:1",
            fingerprint="40",
            replay=first,
        )
    assert (await get_hold(mongo, held.id)).status.value == "active"
    entry = await run_in_ledger(
        mongo,
        clock,
        lambda unit: pay(unit, False),
        idempotency_key="pay:2",
        fingerprint="40",
        replay=first,
    )
    assert (entry.points, entry.reference) == (-40, "order-1")
    assert (
        await run_in_ledger(
            mongo,
            clock,
            lambda unit: pay(unit, False),
            idempotency_key="pay:2",
            fingerprint="40",
            replay=first,
        )
        == entry
    )
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held) == (60, 0)
    await assert_invariants(mongo)


async def correct(mongo: Mongo, clock: FrozenClock, key: str, operation: Any) -> Entry:
    """A staff correction with the caller's own audit-like write in the same transaction."""

    async def work(unit: LedgerUnit) -> Entry:
        entry: Entry = await operation(unit)
        await mongo["orders"].insert_one({"_id": key, "entry_id": entry.id}, session=unit.session)
        return entry

    async def first(entry: Entry) -> Entry:
        return entry

    return await run_in_ledger(
        mongo, clock, work, idempotency_key=key, fingerprint="f", replay=first
    )


async def test_a_unit_adjusts_both_ways_and_a_negative_beyond_the_balance_is_refused(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=30))
    taken = await correct(mongo, clock, "a1", lambda u: u.adjust("m1", -30, reason="typo"))
    given = await correct(mongo, clock, "a2", lambda u: u.adjust("m1", 5, reason="sorry"))
    assert (taken.kind.value, taken.points, given.points) == ("ADJUST", -30, 5)
    assert taken.description == "typo"
    with pytest.raises(InsufficientPoints) as refused:
        await correct(mongo, clock, "a3", lambda u: u.adjust("m1", -76, reason="too much"))
    assert (refused.value.available, refused.value.requested) == (75, 76)
    with pytest.raises(InvalidPoints):
        await correct(mongo, clock, "a4", lambda u: u.adjust("m1", 0, reason="nothing"))
    assert (await get_balance(mongo, "m1", clock.now())).available == 75
    assert await mongo["orders"].count_documents({}) == 2
    await assert_invariants(mongo)


async def test_a_unit_clears_every_point_and_releases_holds_and_a_replay_clears_nothing_more(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=30))
    await earn_points(mongo, clock, "m1", 40, available_at=clock.now() + timedelta(days=7))
    await hold(
        mongo, clock, member_id="m1", points=30, ttl=timedelta(minutes=5), idempotency_key="h"
    )
    cleared = await correct(mongo, clock, "c1", lambda u: u.clear("m1", reason="dormant"))
    assert (cleared.kind.value, cleared.points) == ("CLEAR", -140)
    await earn_points(mongo, clock, "m1", 10)
    again = await correct(mongo, clock, "c1", lambda u: u.clear("m1", reason="dormant"))
    assert again.id == cleared.id
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending, balance.held) == (10, 0, 0)
    await assert_invariants(mongo)


async def test_a_unit_extends_expiries_and_clear_after_another_operation_is_refused(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=10))
    until = clock.now() + timedelta(days=60)
    extended = await correct(mongo, clock, "x1", lambda u: u.extend("m1", until, reason="covid"))
    assert (extended.kind.value, extended.points) == ("EXTEND", 0)
    lot = await mongo["lots"].find_one({"member_id": "m1"})
    assert lot["expires_at"] == until

    async def spend_then_clear(unit: LedgerUnit) -> Entry:
        await unit.spend("m1", 10)
        return await unit.clear("m1", reason="no")

    with pytest.raises(InvalidRequest):
        await correct(mongo, clock, "x2", spend_then_clear)
    assert (await get_balance(mongo, "m1", clock.now())).available == 100
    await assert_invariants(mongo)


async def test_a_unit_reads_the_last_activity_then_clears_after_points_expired_on_the_way(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=10))
    await earn_points(mongo, clock, "m1", 50)
    earned_at = clock.now()
    clock.advance(timedelta(days=11))

    async def sweep(unit: LedgerUnit) -> Entry:
        balance = await unit.balance("m1")
        assert (balance.last_activity_at, balance.available) == (earned_at, 50)
        return await unit.clear("m1", reason="dormant")

    cleared = await correct(mongo, clock, "s1", sweep)
    assert cleared.points == -50
    kinds = [doc["kind"] async for doc in mongo["ledger"].find({"member_id": "m1"}).sort("seq")]
    assert kinds == ["EARN", "EARN", "EXPIRE", "CLEAR"]
    await assert_invariants(mongo)


async def test_a_unit_clear_releases_a_hold_on_a_lot_that_expired_meanwhile(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 100, policy=Rolling(days=10))
    await earn_points(mongo, clock, "m1", 20)
    await hold(mongo, clock, member_id="m1", points=30, ttl=timedelta(days=20), idempotency_key="h")
    clock.advance(timedelta(days=11))
    await expire_due(mongo, clock)  # the first lot expired, keeping its 30 held points
    assert (await mongo["lots"].find_one({"amount": 100}))["status"] == "expired"
    cleared = await correct(mongo, clock, "c1", lambda u: u.clear("m1", reason="dormant"))
    assert cleared.points == -20
    expired = [d["points"] async for d in mongo["ledger"].find({"kind": "EXPIRE"})]
    assert sorted(expired) == [-70, -30]  # at expiry, then the held part when the hold was released
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.held, balance.lifetime_expired) == (0, 0, 100)
    await assert_invariants(mongo)
