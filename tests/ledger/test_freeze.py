"""A frozen account (a suspended member) spends and holds nothing; everything else still applies."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    AccountFrozen,
    adjust,
    get_balance,
    hold,
    reverse,
    set_frozen,
    spend,
)
from tests.ledger.conftest import assert_invariants, earn_points, key


async def test_a_frozen_account_neither_spends_nor_holds_but_earns_refunds_and_corrects(
    mongo: Mongo, clock: FrozenClock
) -> None:
    earned = await earn_points(mongo, clock, "m1", 100)
    await set_frozen(mongo, "m1", True)
    with pytest.raises(AccountFrozen):
        await spend(mongo, clock, member_id="m1", points=10, idempotency_key=key())
    with pytest.raises(AccountFrozen):
        await hold(
            mongo, clock, member_id="m1", points=10, ttl=timedelta(minutes=5), idempotency_key=key()
        )
    assert (await get_balance(mongo, "m1", clock.now())).available == 100  # nothing half-done

    await earn_points(mongo, clock, "m1", 5)
    await adjust(
        mongo,
        clock,
        member_id="m1",
        points=-20,
        reason="fraud",
        actor="admin:ops",
        idempotency_key=key(),
    )
    await reverse(mongo, clock, entry_id=earned.id, points=30, idempotency_key=key())
    assert (await get_balance(mongo, "m1", clock.now())).available == 55

    await set_frozen(mongo, "m1", False)
    await spend(mongo, clock, member_id="m1", points=55, idempotency_key=key())
    assert (await get_balance(mongo, "m1", clock.now())).available == 0
    await assert_invariants(mongo)


async def test_spends_racing_the_freeze_commit_whole_or_are_refused_and_none_pass_after(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """Spends racing the freeze either commit before it or are refused: the freeze bumps the
    account's version, so a spend that read the account earlier retries and sees the flag."""
    await earn_points(mongo, clock, "m2", 1_000)
    spends = [
        spend(mongo, clock, member_id="m2", points=1, idempotency_key=key()) for _ in range(30)
    ]
    results = await asyncio.gather(set_frozen(mongo, "m2", True), *spends, return_exceptions=True)
    outcomes = results[1:]
    assert all(isinstance(o, AccountFrozen) or not isinstance(o, BaseException) for o in outcomes)
    spent = sum(1 for o in outcomes if not isinstance(o, BaseException))
    assert (await get_balance(mongo, "m2", clock.now())).available == 1_000 - spent
    with pytest.raises(AccountFrozen):
        await spend(mongo, clock, member_id="m2", points=1, idempotency_key=key())
    await assert_invariants(mongo)
