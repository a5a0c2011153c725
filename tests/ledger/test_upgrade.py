"""A database written by the ledger before accounts kept a summary is upgraded once, exactly."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    Inactivity,
    Never,
    OpeningEarn,
    Rolling,
    get_balance,
    open_books,
    spend,
    upgrade_books,
)
from app.ledger.upgrade import MARKER
from tests.ledger.conftest import assert_invariants, key

ADDED = {"front": "", "front_end": "", "dated_next": "", "classes": "", "pending_due": ""}


async def _write_as_the_old_ledger_did(mongo: Mongo, clock: FrozenClock) -> None:
    start = clock.now() - timedelta(days=100)
    earns = [
        OpeningEarn(10 + i, start + timedelta(hours=i), policy)
        for i, policy in enumerate(
            [Rolling(days=365)] * 40 + [Never()] * 5 + [Inactivity(days=400)] * 5
        )
    ]
    await open_books(mongo, {"m1": earns, "m2": earns[:3]}, clock.now())
    await mongo["accounts"].update_many({}, {"$unset": {**ADDED, "seq": "", "lots_issued": ""}})
    await mongo["lots"].update_many({}, {"$unset": {"seq": "", "order": ""}})
    await mongo["ledger"].update_many({}, {"$unset": {"seq": ""}})
    await mongo["meta"].delete_one({"_id": MARKER})  # as an older version left it


async def test_an_old_database_is_upgraded_once_and_works_as_a_new_one(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await _write_as_the_old_ledger_did(mongo, clock)
    before = await get_balance(mongo, "m1", clock.now())

    assert await upgrade_books(mongo, clock.now()) == 2
    assert await upgrade_books(mongo, clock.now()) == 0  # marked: later starts cost one read
    after = await get_balance(mongo, "m1", clock.now())
    assert (after.available, after.next_expiry) == (before.available, before.next_expiry)
    numbers = sorted(await mongo["ledger"].distinct("seq", {"member_id": "m1"}))
    assert numbers == list(range(1, 51))
    await assert_invariants(mongo)

    await spend(mongo, clock, member_id="m1", points=after.available, idempotency_key=key())
    assert (await get_balance(mongo, "m1", clock.now())).available == 0
    await assert_invariants(mongo)
