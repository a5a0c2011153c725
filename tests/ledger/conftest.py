"""Ledger test kit: small factories, a command counter, fault injection and the invariant check."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import monitoring

from app.clock import FrozenClock
from app.db import Mongo, connect
from app.ledger import Entry, OpeningEarn, Rolling, earn, open_books, verify_balances

_keys = itertools.count()


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


async def earn_points(
    mongo: Mongo, clock: FrozenClock, member: str, points: int, **options: Any
) -> Entry:
    options.setdefault("idempotency_key", key("earn"))
    return await earn(mongo, clock, member_id=member, points=points, **options)


async def seed_earns(
    mongo: Mongo, clock: FrozenClock, *, members: int, lots_each: int, points: int, policy: Rolling
) -> None:
    """Many earns at once, built by the ledger's own rules and written in bulk (arranging, not testing)."""
    earns = [OpeningEarn(points, clock.now(), policy)] * lots_each
    await open_books(mongo, {f"m{m}": earns for m in range(members)}, clock.now())


class CommandCounter(monitoring.CommandListener):
    """Counts the commands a client sends (handshakes and heartbeats excluded)."""

    IGNORED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo"})

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.IGNORED:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reset(self) -> None:
        self.names.clear()

    @property
    def count(self) -> int:
        return len(self.names)


@pytest.fixture
async def counted(
    mongo_url: str, db_name: str, mongo: Mongo
) -> AsyncIterator[tuple[Mongo, CommandCounter]]:
    """A second client on the test's database whose commands are counted."""
    counter = CommandCounter()
    handle = connect(mongo_url, db_name, event_listeners=[counter])
    await handle.ping()
    counter.reset()
    try:
        yield handle, counter
    finally:
        await handle.close()


async def assert_invariants(mongo: Mongo) -> None:
    """The invariants of shared/DESIGN.md, read straight from the documents, then `verify` agrees."""
    accounts = {doc["_id"]: doc async for doc in mongo["accounts"].find()}
    lots = [doc async for doc in mongo["lots"].find()]
    entries = [doc async for doc in mongo["ledger"].find()]
    holds = [doc async for doc in mongo["holds"].find({"status": "active"})]
    ledger_sum: dict[str, int] = defaultdict(int)
    for entry in entries:
        ledger_sum[entry["member_id"]] += entry["points"]
        if entry["points"] < 0:  # every point taken names the lots it came from, or became debt
            taken = sum(share["points"] for share in entry["lots"]) + entry["debt_change"]
            assert taken == -entry["points"], entry
    by_member: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lot in lots:
        assert 0 <= lot["held"] <= lot["remaining"] <= lot["amount"], lot
        by_member[lot["member_id"]].append(lot)
    held_by_holds: dict[str, int] = defaultdict(int)
    for hold in holds:
        held_by_holds[hold["member_id"]] += hold["points"]
    for member in set(accounts) | set(ledger_sum) | set(by_member):
        acc = accounts[member]
        assert (
            acc["available"] + acc["pending"] + acc["held"] - acc["debt"] == ledger_sum[member]
        ), member
        member_lots = by_member[member]
        available_lots = [lot for lot in member_lots if lot["status"] == "available"]
        held = sum(lot["held"] for lot in member_lots)
        # Held portions sit on available lots, or on lots that expired while held (those expire on release).
        assert acc["available"] == sum(lot["remaining"] for lot in available_lots) - sum(
            lot["held"] for lot in available_lots
        )
        assert acc["held"] == held == held_by_holds[member]
        assert acc["pending"] == sum(
            lot["remaining"] for lot in member_lots if lot["status"] == "pending"
        )
        assert min(acc[name] for name in ("available", "pending", "held", "debt")) >= 0
    expire_keys = [entry["idempotency_key"] for entry in entries if entry["kind"] == "EXPIRE"]
    assert len(expire_keys) == len(set(expire_keys))  # every lot (or held portion) expires once
    assert await verify_balances(mongo) == []
