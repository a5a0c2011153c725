"""The member activity report equals a count over every member's own balance, whatever the jobs
have done: after random earns, spends, adjustments, 清零, expiries run or not, and the tally kept
by the rollup's job run now and then (reads between its runs too); and with the tally kept, a
read does not go through the accounts."""

from __future__ import annotations

import contextlib
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import monitoring

from app.clock import FrozenClock
from app.db import Mongo, connect
from app.ledger import (
    InsufficientPoints,
    Rolling,
    accounts,
    adjust,
    clear,
    earn,
    expire_due,
    get_balance,
    spend,
)
from app.reports import Group, MemberActivity, activity, keep_activity, member_activity
from tests.faults import fail_point

MEMBERS = [f"m{n}" for n in range(12)]
WHO = {"actor": "admin:ops", "reason": "test"}
DORMANCY = (1, 7, 30)


async def recount(mongo: Mongo, now: datetime, dormant_days: int) -> MemberActivity:
    """Every account, each member's points as their balance says at `now` (exact whatever the
    jobs have done), grouped by their last earn or spend."""
    cutoff = now - timedelta(days=dormant_days)
    sums: dict[str, list[int]] = {"active": [0, 0], "dormant": [0, 0], "never": [0, 0]}
    async for account in mongo["accounts"].find({}, {"_id": 1}):
        balance = await get_balance(mongo, account["_id"], now)
        last = balance.last_activity_at
        name = "never" if last is None else "active" if last >= cutoff else "dormant"
        sums[name][0] += 1
        sums[name][1] += balance.available + balance.pending + balance.held
    active, dormant, never = (Group(*sums[name]) for name in ("active", "dormant", "never"))
    return MemberActivity(now, dormant_days, active, dormant, never)


async def step(mongo: Mongo, clock: FrozenClock, rng: random.Random, n: int) -> None:
    """One random operation of the ledger's public API on a random member."""
    member = rng.choice(MEMBERS)
    key = f"k{n}"
    roll = rng.random()
    if roll < 0.4:
        policy = Rolling(days=rng.randint(2, 20)) if rng.random() < 0.7 else None
        pending = clock.now() + timedelta(days=rng.randint(1, 5)) if rng.random() < 0.2 else None
        await earn(
            mongo,
            clock,
            member_id=member,
            points=rng.randint(1, 500),
            idempotency_key=key,
            policy=policy,
            available_at=pending,
        )
    elif roll < 0.65:
        with contextlib.suppress(InsufficientPoints):
            await spend(
                mongo, clock, member_id=member, points=rng.randint(1, 300), idempotency_key=key
            )
    elif roll < 0.8:
        points = rng.choice([-1, 1]) * rng.randint(1, 200)
        with contextlib.suppress(InsufficientPoints):
            await adjust(mongo, clock, member_id=member, points=points, idempotency_key=key, **WHO)
    elif roll < 0.85:
        await clear(mongo, clock, member_id=member, idempotency_key=key, **WHO)
    elif roll < 0.92:
        await expire_due(mongo, clock)


@pytest.mark.parametrize("by_id_at_most", [4000, 2])
async def test_member_activity_is_every_balance_counted_between_and_after_the_tally_runs(
    mongo: Mongo, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, by_id_at_most: int
) -> None:
    """With 2, the accounts and the tally are read in one pass over them all (as for thousands of
    members changed or overdue) rather than by id."""
    monkeypatch.setattr(accounts, "BY_ID_AT_MOST", by_id_at_most)
    monkeypatch.setattr(activity, "BY_ID_AT_MOST", by_id_at_most)
    rng = random.Random(22)
    kept = False
    for n in range(260):
        clock.advance(timedelta(minutes=rng.randint(1, 36 * 60)))
        await step(mongo, clock, rng, n)
        if rng.random() < 0.15:
            await keep_activity(mongo, clock)
            kept = True
        if n % 13 == 0:  # reads before the first run, right after a run and between runs
            for days in DORMANCY:
                expected = await recount(mongo, clock.now(), days)
                assert await member_activity(mongo, clock, days) == expected, (n, days, kept)
    assert kept
    for days in DORMANCY:  # the dormant group grows as nobody acts: a cut-off crossing members
        for _ in range(8):
            clock.advance(timedelta(hours=rng.randint(1, 30)))
            expected = await recount(mongo, clock.now(), days)
            assert await member_activity(mongo, clock, days) == expected, days


class Reads(monitoring.CommandListener):
    """The commands sent to `accounts`, and what each asked."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) == "accounts":
            self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_with_the_tally_kept_a_read_goes_to_no_account_but_the_changed_ones(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock
) -> None:
    for n in range(60):  # 60 members, active some days ago
        await earn(mongo, clock, member_id=f"a{n}", points=100, idempotency_key=f"e{n}")
    clock.advance(timedelta(days=3))
    await keep_activity(mongo, clock)
    await spend(mongo, clock, member_id="a7", points=40, idempotency_key="s7")
    reads = Reads()
    counted = connect(mongo_url, db_name, event_listeners=[reads])
    try:
        activity = await member_activity(counted, clock, 2)
    finally:
        await counted.close()
    assert activity.active == Group(1, 60) and activity.dormant == Group(59, 5900)
    asked = [command.get("filter", command.get("pipeline")) for command in reads.sent]
    assert asked == [{"_id": {"$in": ["a7"]}}]


async def test_a_read_retried_after_a_transient_error_counts_every_member_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    for n in range(5):
        await earn(mongo, clock, member_id=f"a{n}", points=100, idempotency_key=f"e{n}")
    await keep_activity(mongo, clock)
    await spend(mongo, clock, member_id="a1", points=40, idempotency_key="s1")
    transient = {"errorCode": 112, "errorLabels": ["TransientTransactionError"]}
    async with fail_point(
        mongo, {"times": 1}, {"failCommands": ["commitTransaction"], **transient}
    ):
        found = await member_activity(mongo, clock, 30)
    assert found == await recount(mongo, clock.now(), 30)
    assert found.active == Group(5, 460)
