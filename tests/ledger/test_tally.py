"""Tallies on the account (app.ledger.tally): another area's counters move with an earn exactly once,
whichever way the earn goes (in the account's own command when expressed, with the full book when
the earn does not fit the simple rules, or with a command of their own when the unit already
holds the book), and the ledger's own writes leave them as they are."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.clock import FrozenClock
from app.db import Document, Mongo
from app.ledger import Entry, LedgerUnit, Tally, get_balance, move_tally, read_tally, run_in_ledger
from tests.ledger.conftest import assert_invariants, earn_points, key


def counting(points: int, at: datetime) -> Tally:
    return Tally("progress", {f"days.{at.date().isoformat()}": points}, {"due": at})


async def earn_counted(
    mongo: Mongo,
    clock: FrozenClock,
    member: str,
    points: int,
    *,
    spend_first: int = 0,
    available_at: datetime | None = None,
) -> Document:
    """An earn with its tally in one unit (after a spend when `spend_first`); the tally after."""

    async def work(unit: LedgerUnit) -> Document:
        if spend_first:
            await unit.spend(member, spend_first)
        tally = counting(points, unit.now)
        await unit.earn(member, points, available_at=available_at, tally=tally)
        return unit.tallied(member, tally.name)

    async def replay(entry: Entry) -> Document:
        raise AssertionError("not a replay")

    return await run_in_ledger(
        mongo, clock, work, idempotency_key=key("tallied"), fingerprint="f", replay=replay
    )


async def test_an_expressed_earn_moves_the_tally_in_its_own_command_and_keeps_an_earlier_one(
    mongo: Mongo, clock: FrozenClock
) -> None:
    today = clock.now().date().isoformat()
    # counted before the member's first earn: an account with no points yet
    await move_tally(mongo, None, "m1", Tally("progress", {f"days.{today}": 5}))
    after = await earn_counted(mongo, clock, "m1", 10)
    assert after == {"days": {today: 15}, "due": clock.now()}
    assert await read_tally(mongo, "m1", "progress") == after
    after = await earn_counted(mongo, clock, "m1", 20)
    assert after["days"] == {today: 35}
    assert await read_tally(mongo, "m1", "progress") == after
    assert (await get_balance(mongo, "m1", clock.now())).available == 30
    await assert_invariants(mongo)


async def test_an_earn_that_does_not_fit_the_simple_rules_counts_its_tally_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    # a pending lot past its return window: the account's stage leaves the earn to the book
    await earn_points(mongo, clock, "m1", 40, available_at=clock.now() + timedelta(days=1))
    clock.advance(timedelta(days=2))
    after = await earn_counted(mongo, clock, "m1", 10)
    assert after == {"days": {clock.now().date().isoformat(): 10}, "due": clock.now()}
    assert await read_tally(mongo, "m1", "progress") == after
    balance = await get_balance(mongo, "m1", clock.now())
    assert (balance.available, balance.pending) == (50, 0)
    await assert_invariants(mongo)


async def test_an_earn_of_a_unit_holding_the_book_counts_its_tally_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 40)
    await earn_counted(mongo, clock, "m1", 10)
    after = await earn_counted(mongo, clock, "m1", 15, spend_first=30)
    assert after == {"days": {clock.now().date().isoformat(): 25}, "due": clock.now()}
    assert await read_tally(mongo, "m1", "progress") == after
    assert (await get_balance(mongo, "m1", clock.now())).available == 35
    await assert_invariants(mongo)
