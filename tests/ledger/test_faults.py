"""Faults injected with configureFailPoint: every operation happens once or not at all, and a replay
with the same key returns the first result."""

from __future__ import annotations

import random
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from pymongo.errors import PyMongoError

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Entry, Hold, capture, earn, get_balance, hold, spend
from tests.faults import fail_point
from tests.ledger.conftest import assert_invariants

TRANSIENT = {"errorCode": 112, "errorLabels": ["TransientTransactionError"]}
FAULTS: list[tuple[str, dict[str, Any], str]] = [
    # (name, failCommand data without failCommands, what the caller sees)
    ("transient", TRANSIENT, "retried"),
    ("connection closed", {"closeConnection": True}, "retried"),
    ("refused", {"errorCode": 96}, "not at all"),
    ("commit outcome unknown", {"writeConcernError": {"code": 64, "errmsg": "timeout"}}, "retried"),
    # The commit is applied but the client is told it failed: only a replay can tell.
    (
        "commit applied, error reported",
        {"writeConcernError": {"code": 100, "errmsg": "unsatisfiable"}},
        "maybe",
    ),
]
COMMANDS = ["find", "update", "insert", "commitTransaction"]


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_operation_happens_once_or_not_at_all_under_random_faults(
    mongo: Mongo, clock: FrozenClock, seed: int
) -> None:
    rng = random.Random(seed)
    expected_available = expected_held = 0
    open_holds: list[Hold] = []
    keys: list[str] = []
    for step in range(24):
        key = f"op-{seed}-{step}"
        choice = rng.random()
        if choice < 0.35 or expected_available < 10:
            points = rng.randint(10, 60)
            call: Any = partial(
                earn, mongo, clock, member_id="m1", points=points, idempotency_key=key
            )
            effect = (points, 0)
        elif choice < 0.65:
            points = rng.randint(1, expected_available)
            call = partial(spend, mongo, clock, member_id="m1", points=points, idempotency_key=key)
            effect = (-points, 0)
        elif choice < 0.85 or not open_holds:
            points = rng.randint(1, expected_available)
            call = partial(
                hold,
                mongo,
                clock,
                member_id="m1",
                points=points,
                ttl=timedelta(hours=1),
                idempotency_key=key,
            )
            effect = (-points, points)
        else:
            reserved = open_holds.pop(0)
            call = partial(capture, mongo, clock, hold_id=reserved.id, idempotency_key=key)
            effect = (0, -reserved.points)
        name, data, _ = rng.choice(FAULTS)
        command = "commitTransaction" if "writeConcernError" in data else rng.choice(COMMANDS)
        first: Entry | Hold | None = None
        async with fail_point(
            mongo, {"times": rng.randint(1, 3)}, {"failCommands": [command], **data}
        ):
            try:
                first = await call()
            except PyMongoError:
                first = None  # the caller does not know whether it happened
        replayed = await call()
        if first is not None:
            assert replayed == first, (name, command)
        if isinstance(replayed, Hold):
            open_holds.append(replayed)
        assert (await call()) == replayed
        expected_available += effect[0]
        expected_held += effect[1]
        keys.append(key)
        balance = await get_balance(mongo, "m1", clock.now())
        assert (balance.available, balance.held) == (expected_available, expected_held), (
            step,
            name,
            command,
        )
    for key in keys:
        in_ledger = await mongo["ledger"].count_documents({"idempotency_key": key})
        in_holds = await mongo["holds"].count_documents({"idempotency_key": key})
        assert in_ledger + in_holds == 1, key
    await assert_invariants(mongo)


async def test_a_commit_that_applied_but_reported_failure_is_found_by_the_replay(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn(mongo, clock, member_id="m1", points=100, idempotency_key="e")
    data = {
        "failCommands": ["commitTransaction"],
        "writeConcernError": {"code": 100, "errmsg": "unsatisfiable"},
    }
    async with fail_point(mongo, {"times": 1}, data):
        with pytest.raises(PyMongoError):
            await spend(mongo, clock, member_id="m1", points=100, idempotency_key="s")
    assert (await get_balance(mongo, "m1", clock.now())).available == 0  # it did happen
    replay = await spend(mongo, clock, member_id="m1", points=100, idempotency_key="s")
    assert replay.points == -100 and replay.balance_after == 0
    await assert_invariants(mongo)


async def test_an_operation_refused_by_the_server_did_not_happen(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn(mongo, clock, member_id="m1", points=100, idempotency_key="e")
    async with fail_point(mongo, {"times": 1}, {"failCommands": ["insert"], "errorCode": 96}):
        with pytest.raises(PyMongoError):
            await spend(mongo, clock, member_id="m1", points=40, idempotency_key="s")
    assert (await get_balance(mongo, "m1", clock.now())).available == 100
    assert (
        await spend(mongo, clock, member_id="m1", points=40, idempotency_key="s")
    ).balance_after == 60
    await assert_invariants(mongo)
