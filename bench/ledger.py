"""Ledger benchmark: operations per second and database commands per operation.

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder):

    .venv/bin/python bench/ledger.py [--members 100] [--lots-each 20] [--concurrency 8]

Commands are counted with a PyMongo CommandListener; they are the figure to watch, since
SecantusDB is slower than mongod and times depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from pymongo import monitoring

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import earn, expire_due, get_balance, spend, verify_balances
from app.program.expiry import Rolling


class Commands(monitoring.CommandListener):
    IGNORED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions"})

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.IGNORED:
            self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> int:
        total = sum(self.counts.values())
        self.counts.clear()
        return total


Call = Callable[[], Awaitable[object]]


async def timed(calls: list[Call], concurrency: int) -> tuple[float, int]:
    """Run the calls `concurrency` at a time; seconds taken and how many succeeded."""
    queue = list(reversed(calls))
    done = 0

    async def worker() -> None:
        nonlocal done
        while queue:
            call = queue.pop()
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, done


def report(name: str, ops: int, seconds: float, commands: int, unit: str = "op") -> None:
    print(
        f"{name:<8} {ops:>6} {unit}s in {seconds:6.2f}s = {ops / seconds:8.1f} {unit}s/s; "
        f"{commands / ops:5.2f} commands per {unit}"
    )


async def bench(url: str, members: int, lots_each: int, concurrency: int) -> None:
    commands = Commands()
    mongo: Mongo = connect(url, "bench", event_listeners=[commands])
    await ensure_indexes(mongo)
    clock = FrozenClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    ids = [f"member-{m}" for m in range(members)]
    commands.take()

    # earn: lots_each lots per member, expiring 1..lots_each days out, so spends cross lots
    earns: list[Call] = [
        partial(
            earn,
            mongo,
            clock,
            member_id=m,
            points=10,
            policy=Rolling(days=1 + i),
            idempotency_key=f"earn:{m}:{i}",
        )
        for i in range(lots_each)
        for m in ids
    ]
    seconds, done = await timed(earns, concurrency)
    report("earn", done, seconds, commands.take())

    # spend: 25 points each, so every spend touches 3 lots of 10 (the lots already cut in two)
    spends: list[Call] = [
        partial(spend, mongo, clock, member_id=m, points=25, idempotency_key=f"spend:{m}:{i}")
        for i in range(lots_each // 10)
        for m in ids
    ]
    seconds, done = await timed(spends, concurrency)
    report("spend", done, seconds, commands.take())

    one = await spend(mongo, clock, member_id=ids[0], points=25, idempotency_key="spend:single")
    print(f"one spend touching {len(one.lots)} lots: {commands.take()} commands (target <= 6)")
    await get_balance(mongo, ids[0])
    print(f"balance read: {commands.take()} command (target 1)")

    # expire: everything left (all lots expire within lots_each days)
    clock.advance(timedelta(days=lots_each + 1))
    live = await mongo["lots"].count_documents({"status": {"$in": ["pending", "available"]}})
    commands.take()
    start = time.perf_counter()
    run = await expire_due(mongo, clock, batch_size=1000)
    seconds = time.perf_counter() - start
    assert run.lots == live, (run, live)
    used = commands.take()
    report("expire", run.lots, seconds, used, unit="lot")
    print(
        f"expire: {used / run.lots * 1000:.1f} commands per 1,000 lots (target <= 10); batches: {run.batches}"
    )

    drift = await verify_balances(mongo)
    print(f"verify: {len(drift)} drifts")
    await mongo.client.drop_database("bench")
    await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--lots-each", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db")
        url = server.start()
        try:
            asyncio.run(bench(url, args.members, args.lots_each, args.concurrency))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
