"""Ledger benchmark: operations per second and database commands per operation.

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder):

    .venv/bin/python bench/ledger.py [--members 100] [--lots-each 20] [--concurrency 8]
                                     [--sizes 10,1000,10000] [--repeat 40] [--smoke]

Commands are counted with a PyMongo CommandListener; they are the figure to watch, since
SecantusDB is slower than mongod and times depend on the machine.

The second table is the cost of one operation (one at a time) for a member with 10, 1,000 and
10,000 live lots, in two shapes: lots that each expire at their own instant (rolling, an earn
every 30 minutes) and lots that all share one (never expiring). Target: at 10,000 lots within
1.5x of 10 lots, with the same number of commands.

The first figure is the floor: `--floor` earns through the public ledger API against as many
bare transactions doing the same writes (the account updated, a lot, an entry and its event
inserted, copies of what the ledger wrote, on the same collections and indexes), one at a time and
interleaved in rounds; it prints their ratio (ledger earns per second over bare transactions per
second, target >= 0.9) and the commands of each (target: the same 5). A third contender is the
bare transaction sending the ledger's own account write (its guarded update pipeline) instead of a
plain $set: earn against it is the app's own cost, and the two bare ones differ by what the
database spends evaluating the guard.

It checks what it counts: every balance against the ledger (no drift), the spend's lots, the
balance read, that the expiry took every live lot, and each member's balance after the rounds; a
failed check ends it with a non-zero status. `--smoke` runs tiny sizes in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes, run_in_transaction
from app.embedded import EmbeddedMongo
from app.ledger import (
    Never,
    OpeningEarn,
    Rolling,
    capture,
    earn,
    expire_due,
    get_balance,
    hold,
    open_books,
    release,
    reverse,
    spend,
    verify_balances,
)
from app.ledger.earn import Policy
from bench.api import cpu_seconds

# What `--smoke` runs, on a database that skips the sync on commit: every operation and figure of
# the full run, at sizes of a few seconds.
SMOKE = {
    "members": 2,
    "lots_each": 10,
    "concurrency": 2,
    "sizes": "10,30",
    "repeat": 1,
    "floor": 20,
}


class Commands(monitoring.CommandListener):
    IGNORED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions"})

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last_update: Any = None  # the last findAndModify's update (an earn's account write)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.IGNORED:
            self.counts[event.command_name] += 1
        if event.command_name == "findAndModify":
            self.last_update = event.command.get("update")

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
    print(
        f"one spend touching {len(one.lots)} lots: {commands.take()} commands "
        "(target <= 7: 6, and the event the brand's webhooks get, in the same transaction)"
    )
    assert len(one.lots) == 3, f"25 points from lots of 10 and one cut in two took {one.lots}"
    balance = await get_balance(mongo, ids[0], clock.now())
    print(f"balance read: {commands.take()} command (target 1)")
    left = 10 * lots_each - 25 * (lots_each // 10 + 1)
    assert balance.available == left, f"{ids[0]} has {balance.available} points, not {left}"

    # expire: everything left (all lots expire within lots_each days)
    clock.advance(timedelta(days=lots_each + 1))
    live = await mongo["lots"].count_documents({"status": {"$in": ["pending", "available"]}})
    commands.take()
    start = time.perf_counter()
    run = await expire_due(mongo, clock, batch_size=1000)
    seconds = time.perf_counter() - start
    assert run.lots == live > 0, f"{run.lots} lots expired of {live} live"
    used = commands.take()
    report("expire", run.lots, seconds, used, unit="lot")
    print(
        f"expire: {used / run.lots * 1000:.1f} commands per 1,000 lots (target <= 10); batches: {run.batches}"
    )

    await verify(mongo)
    await mongo.close()


def _cpu(server_pid: int) -> float:
    """CPU seconds used so far by the database process and this one (the client)."""
    return cpu_seconds(server_pid) + time.process_time()


async def floor(url: str, server_pid: int, earns: int, members: int = 20, rounds: int = 6) -> None:
    """Earn through the ledger against a bare transaction making the same writes (see the docstring)."""
    commands = Commands()
    mongo: Mongo = connect(url, "bench_floor", event_listeners=[commands])
    await ensure_indexes(mongo)
    clock = FrozenClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    keys = iter(range(10**9))

    async def ledger_earn(member: int) -> None:
        await earn(
            mongo,
            clock,
            member_id=f"l{member}",
            points=10,
            policy=Rolling(days=365),
            idempotency_key=f"floor:{next(keys)}",
        )

    for member in range(members):  # accounts exist, as for a member's every earn but the first
        await ledger_earn(member)
    account = await mongo["accounts"].find_one({"_id": "l0"})
    lot = await mongo["lots"].find_one({"member_id": "l0"})
    entry = await mongo["ledger"].find_one({"member_id": "l0"})
    event = await mongo["events"].find_one({"member_id": "l0"})
    assert account is not None and lot is not None and entry is not None and event is not None
    seqs = {member: 0 for member in range(members)}
    # The ledger's own account write for an earn (its guarded update pipeline, app.ledger.express),
    # as the last of those earns sent it: the third contender sends it, on accounts of its own.
    pipeline = commands.last_update
    assert isinstance(pipeline, list), pipeline

    async def bare(member: int, same_update: bool = False) -> None:
        seqs[member] += 1
        prefix = "p" if same_update else "b"
        who, seq, key = f"{prefix}{member}", seqs[member], f"{prefix}bare:{next(keys)}"

        async def work(session: Any) -> None:
            if same_update:
                mine = _swap(pipeline, f"l{members - 1}", who)  # the earn's member: this one
                await mongo["accounts"].find_one_and_update(
                    {"_id": who}, mine, upsert=True, session=session
                )
            else:
                changed = {k: v for k, v in account.items() if k != "_id"}
                await mongo["accounts"].update_one(
                    {"_id": who}, {"$set": {**changed, "seq": seq}}, upsert=True, session=session
                )
            lot_id, entry_id = ObjectId(), ObjectId()
            await mongo["lots"].insert_one(
                {
                    **lot,
                    "_id": lot_id,
                    "member_id": who,
                    "seq": seq,
                    "order": f"N|{seq:012d}",
                    "source_entry_id": entry_id,
                },
                session=session,
            )
            await mongo["ledger"].insert_one(
                {
                    **entry,
                    "_id": entry_id,
                    "member_id": who,
                    "seq": seq,
                    "idempotency_key": key,
                    "lots": [{"lot_id": lot_id, "points": 10}],
                },
                session=session,
            )
            await mongo["events"].insert_many(  # its event (app/event_log.py), as the ledger does
                [{**event, "_id": f"ev:{key}", "member_id": who, "seq": seq}],
                session=session,
            )

        await run_in_transaction(mongo.client, work)

    same = partial(bare, same_update=True)
    for member in range(members):
        await bare(member)
        await same(member)
    names = ("ledger", "bare", "same")
    spent = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    client = dict.fromkeys(names, 0.0)
    used = dict.fromkeys(names, 0)
    per_round = max(1, earns // rounds)
    for r in range(rounds):
        order = [("ledger", ledger_earn), ("bare", bare), ("same", same)]
        for name, call in order if r % 2 else order[::-1]:
            commands.take()
            started, cpu_before, own = time.perf_counter(), _cpu(server_pid), time.process_time()
            for n in range(per_round):
                await call(n % members)
            spent[name] += time.perf_counter() - started
            cpu[name] += _cpu(server_pid) - cpu_before
            client[name] += time.process_time() - own
            used[name] += commands.take()
    done = per_round * rounds
    rates = {name: done / seconds for name, seconds in spent.items()}
    print(
        f"earn {rates['ledger']:.1f}/s, {used['ledger'] / done:.2f} commands, "
        f"{cpu['ledger'] / done * 1000:.2f} ms CPU ({client['ledger'] / done * 1000:.2f} of them "
        f"this process's); bare transaction {rates['bare']:.1f}/s, {used['bare'] / done:.2f} "
        f"commands, {cpu['bare'] / done * 1000:.2f} ms CPU ({client['bare'] / done * 1000:.2f})"
    )
    print(
        f"earn / bare transaction: {rates['ledger'] / rates['bare']:.2f}x by wall time, "
        f"{cpu['bare'] / cpu['ledger']:.2f}x by CPU (the database's and this process's; "
        "target >= 0.9, 5 commands)"
    )
    print(
        f"bare transaction sending the ledger's own account update: {rates['same']:.1f}/s, "
        f"{used['same'] / done:.2f} commands, {cpu['same'] / done * 1000:.2f} ms CPU "
        f"({client['same'] / done * 1000:.2f}); earn / it: {rates['ledger'] / rates['same']:.2f}x "
        f"by wall time, {cpu['same'] / cpu['ledger']:.2f}x by CPU (the app's own cost); its "
        f"guarded update costs the database {(cpu['same'] - client['same'] - cpu['bare'] + client['bare']) / done * 1000:.2f} ms "
        "more than a plain $set (SecantusDB evaluates each expression in Python)"
    )
    for member in range(members):  # the bare members' copied counters are no books to verify
        drift = await verify_balances(mongo, f"l{member}")
        assert not drift, drift
    await mongo.close()


def _swap(value: Any, old: str, new: str) -> Any:
    """`value` with every string equal to `old` replaced by `new`, at any depth."""
    if isinstance(value, dict):
        return {key: _swap(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_swap(item, old, new) for item in value]
    return new if value == old else value


async def verify(mongo: Mongo) -> None:
    drift = await verify_balances(mongo)
    print(f"verify: {len(drift)} drifts")
    assert not drift, drift


async def seed_member(
    mongo: Mongo, member: str, lots: int, policy: Policy, start: datetime, step: timedelta
) -> None:
    """`lots` earns of 100 points, `step` apart, built by the ledger's own rules and written in bulk."""
    earns = [OpeningEarn(100, start + step * i, policy) for i in range(lots)]
    await open_books(mongo, {member: earns}, start + step * lots)


OPERATIONS = ("earn", "spend", "hold", "capture", "release", "reverse")
Runs = dict[str, list[tuple[float, int]]]


async def one_round(
    mongo: Mongo, commands: Commands, clock: FrozenClock, member: str, key: str, runs: Runs
) -> None:
    """Each operation once on the member: seconds and commands of each, added to `runs`."""

    async def measure(name: str, call: Callable[[], Awaitable[object]]) -> Any:
        commands.take()
        started = time.perf_counter()
        result = await call()
        runs.setdefault(name, []).append((time.perf_counter() - started, commands.take()))
        return result

    ttl = timedelta(minutes=10)
    earned = await measure(
        "earn", partial(earn, mongo, clock, member_id=member, points=10, idempotency_key=f"e:{key}")
    )
    await measure(
        "spend",
        partial(spend, mongo, clock, member_id=member, points=10, idempotency_key=f"s:{key}"),
    )
    held = await measure(
        "hold",
        partial(
            hold, mongo, clock, member_id=member, points=10, ttl=ttl, idempotency_key=f"h:{key}"
        ),
    )
    await measure(
        "capture", partial(capture, mongo, clock, hold_id=held.id, idempotency_key=f"c:{key}")
    )
    held = await hold(
        mongo, clock, member_id=member, points=10, ttl=ttl, idempotency_key=f"h2:{key}"
    )
    await measure("release", partial(release, mongo, clock, hold_id=held.id))
    await measure(
        "reverse", partial(reverse, mongo, clock, entry_id=earned.id, idempotency_key=f"r:{key}")
    )


async def by_lot_count(url: str, sizes: list[int], repeat: int) -> None:
    """One operation at a time on members of each size and shape, rounds interleaved so that the
    machine's drift and the database's growth fall on every size alike."""
    commands = Commands()
    mongo: Mongo = connect(url, "bench_lots", event_listeners=[commands])
    await ensure_indexes(mongo)
    shapes: list[tuple[str, Policy, timedelta]] = [
        ("rolling", Rolling(days=3650), timedelta(minutes=30)),
        ("never", Never(), timedelta(0)),
    ]
    start = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    clock = FrozenClock(start + timedelta(days=400))
    cases = [(shape, size) for shape, _, _ in shapes for size in sizes]
    for shape, policy, step in shapes:
        for size in sizes:
            await seed_member(mongo, f"{shape}-{size}", size, policy, start, step)
    runs: dict[tuple[str, int], Runs] = {case: {} for case in cases}
    for r in range(repeat):
        for shape, size in cases:
            member = f"{shape}-{size}"
            await one_round(mongo, commands, clock, member, f"{member}:{r}", runs[shape, size])
    for shape, size in cases:
        # each round earns 10 and reverses it, spends 10, captures 10 and releases a hold
        balance = await get_balance(mongo, f"{shape}-{size}", clock.now())
        left = 100 * size - 20 * repeat
        assert balance.available == left, f"{shape}-{size}: {balance.available} points, not {left}"
    table = {
        case: {
            op: (
                sorted(t for t, _ in found[op])[len(found[op]) // 2] * 1000,
                sum(c for _, c in found[op]) / len(found[op]),
            )
            for op in OPERATIONS
        }
        for case, found in runs.items()
    }
    print("\nlive lots  shape    " + "".join(f"{op:>18}" for op in OPERATIONS))
    for shape, size in cases:
        row = table[shape, size]
        cells = "".join(f"{row[op][0]:>9.1f}ms {row[op][1]:>4.1f}c " for op in OPERATIONS)
        print(f"{size:>9}  {shape:<8} {cells}")
    for shape, _, _ in shapes:
        small, large = table[shape, sizes[0]], table[shape, sizes[-1]]
        ratios = ", ".join(f"{op} {large[op][0] / small[op][0]:.2f}x" for op in OPERATIONS)
        print(f"{shape}: {sizes[-1]:,} vs {sizes[0]:,} lots: {ratios} (target <= 1.5x)")
    await verify(mongo)
    await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--lots-each", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--floor", type=int, default=400, help="earns against the bare floor")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not args.smoke)
        url = server.start()
        try:
            assert server.process is not None
            asyncio.run(floor(url, server.process.pid, args.floor))
            asyncio.run(bench(url, args.members, args.lots_each, args.concurrency))
            asyncio.run(by_lot_count(url, sizes, args.repeat))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
