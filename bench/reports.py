"""Reports benchmark: the liability and issuance reports over 100,000 members, at 200,000 and 1,000,000 entries.

    .venv/bin/python bench/reports.py [--members 100000] [--entries 200000,1000000] [--days 365] [--smoke]

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder, not
synced on commit: seeding is not what is measured). The entries are copies of documents the
ledger itself wrote (an earn with its breakdown, a spend, an expiry, an adjustment, a refund,
a 清零), each with its own id, member, number, key, points and dates, spread over `--days` days
and inserted with insert_many; the accounts likewise. Then it prints, with the database commands
each took (and the database process's CPU seconds):

- the hourly rollup built once (what the worker does as entries arrive);
- the liability as of a past date and as of now, and the issuance report of a month by day and
  of a year by month, with the rollup;
- the reports that read entries themselves (top earners of a month) and the member activity;
- last, the two liabilities summed from the raw entries alone (the rollup's state removed).

It checks what it can know: the rollup took every entry, the liability now is the seeded entries'
sum, the raw entries give the rollup's liabilities, the flows have a row per period, the top
earners are at most 20 and in order, and the member activity counts every account; a failed check
ends it with a non-zero status. `--smoke` runs tiny sizes in a few seconds (CI).

Each size is seeded and measured in a database of its own; last, a table gives every figure at
each size and the ratio of the largest to the smallest: the rollup's build should grow as the
entries do (≤ 5.5× for 5×), the reports read with it not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson import ObjectId

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.db import Document, Mongo, TransactionFailed, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import BreakdownLine, Rolling, adjust, clear, earn, expire_due, reverse, spend
from app.program import Program, Tier, save_program
from app.reports import (
    Liability,
    Period,
    liability_as_of,
    member_activity,
    points_flow,
    roll_up_ledger,
    top_earners,
)
from app.reports.rollup import SETTLE
from bench.api import cpu_seconds
from bench.ledger import Commands

PROGRAM = Program(
    name="Bench Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(Tier(code="member", name="Member", threshold=0),),
)
# Of every 100 entries: 55 earns, 22 spends, 10 expiries, 6 adjustments, 5 refunds, 2 清零.
MIX = ["EARN"] * 55 + ["REDEEM"] * 22 + ["EXPIRE"] * 10 + ["ADJUST"] * 6 + ["REVERSAL"] * 5
MIX += ["CLEAR"] * 2
# What `--smoke` runs: every report and figure of the full run, at sizes of a few seconds.
SMOKE = {"members": 50, "entries": "200,1000", "days": 365, "batch": 100}
ROLLUP = "rollup built (once)"
GOAL = 5.5  # the rollup's build at 5× the entries: at most this many times the time


async def templates(mongo: Mongo, clock: FrozenClock) -> tuple[dict[str, Document], Document]:
    """One entry of each kind and an account, as the ledger writes them (in a database of their
    own)."""
    line = [BreakdownLine("base", "1 point per 1 CNY", 100, "L1", 1)]
    first = await earn(
        mongo,
        clock,
        member_id="t",
        points=100,
        idempotency_key="t1",
        breakdown=line,
        policy=Rolling(days=1),
        actor="partner:p1",
        channel="partner",
    )
    await earn(mongo, clock, member_id="t", points=500, idempotency_key="t2")
    await spend(mongo, clock, member_id="t", points=50, idempotency_key="t3")
    await adjust(
        mongo,
        clock,
        member_id="t",
        points=30,
        reason="goodwill",
        actor="admin:a",
        idempotency_key="t4",
    )
    await reverse(mongo, clock, entry_id=first.id, points=20, idempotency_key="t5")
    clock.advance(timedelta(days=2))
    await expire_due(mongo, clock)
    await clear(mongo, clock, member_id="t", reason="清零", actor="admin:a", idempotency_key="t6")
    kinds = {doc["kind"]: doc async for doc in mongo["ledger"].find({})}
    account = await mongo["accounts"].find_one({"_id": "t"})
    assert account is not None and set(MIX) <= kinds.keys()
    return kinds, account


def entry(template: Document, n: int, member: str, seq: int, at: datetime) -> Document:
    points = random.randint(1, 500)
    sign = 1 if template["kind"] == "EARN" or (template["kind"] == "ADJUST" and n % 2) else -1
    document = dict(template)
    document.update(
        _id=ObjectId(),
        member_id=member,
        seq=seq,
        idempotency_key=f"bench:{n}",
        points=sign * points,
        occurred_at=at,
        recorded_at=at + timedelta(seconds=n % 5),
        lots=[{"lot_id": ObjectId(), "points": points}],
    )
    if template.get("breakdown"):
        document["breakdown"] = [{**template["breakdown"][0], "points": points}]
    return document


async def seed(
    mongo: Mongo,
    args: argparse.Namespace,
    entries: int,
    now: datetime,
    kinds: dict[str, Document],
    account: Document,
) -> int:
    """The accounts and `entries` entries; returns the entries' sum of points."""
    members = [f"m{n:06d}" for n in range(args.members)]
    started = time.perf_counter()
    batch: list[Document] = []
    for n, member in enumerate(members):
        active = now - timedelta(days=random.randint(0, 2 * args.days))
        batch.append({**account, "_id": member, "last_activity_at": active})
        if len(batch) == 10_000 or n == len(members) - 1:
            await mongo["accounts"].insert_many(batch, ordered=False)
            batch = []
    print(f"accounts: {args.members:,} in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    seqs: Counter[str] = Counter()
    span = args.days * 86_400
    total = 0
    for n in range(entries):
        member = random.choice(members)
        seqs[member] += 1
        # Every entry recorded before now − SETTLE (at most 4 s after it occurred), so the rollup
        # built at `now` takes them all.
        at = now - SETTLE - timedelta(seconds=5 + random.randrange(span))
        batch.append(entry(kinds[random.choice(MIX)], n, member, seqs[member], at))
        total += batch[-1]["points"]
        if len(batch) == args.batch or n == entries - 1:
            await mongo["ledger"].insert_many(batch, ordered=False)
            batch = []
            if (n + 1) % 100_000 == 0:
                rate = (n + 1) / (time.perf_counter() - started)
                print(f"  {n + 1:,} entries, {rate:,.0f} a second", flush=True)
    took = time.perf_counter() - started
    print(f"entries: {entries:,} in {took:.1f} s ({entries / took:,.0f} a second)")
    return total


class Timings(dict[str, float]):
    """Each figure's seconds, in the order measured; `cpu`: the database process's CPU seconds
    (from /proc: what the work cost, whatever else the machine runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}


DB_PID: list[int] = []  # the embedded database's process, once started


async def timed(
    name: str, listener: Commands, work: Callable[[], Awaitable[Any]], times: Timings
) -> Any:
    listener.counts.clear()
    cpu = cpu_seconds(DB_PID[0])
    started = time.perf_counter()
    result = await work()
    took = time.perf_counter() - started
    times[name] = took
    times.cpu[name] = cpu_seconds(DB_PID[0]) - cpu
    commands = ", ".join(f"{k} {v}" for k, v in sorted(listener.counts.items()))
    print(f"{name:<52} {took:8.2f} s {times.cpu[name]:8.2f} s   ({commands})", flush=True)
    return result


async def bench(url: str, args: argparse.Namespace, entries: int) -> Timings:
    """Seed `entries` entries in a database of their own and time every report over them."""
    listener = Commands()
    times = Timings()
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FrozenClock(now - timedelta(days=args.days + 10))
    # SecantusDB answers one command at a time: while it sums a million entries it cannot answer
    # the client's heartbeat, and with the product's 2 s connect timeout the client would cancel
    # the running command. The bench waits as long as a report takes instead.
    name = f"bench_reports_{entries}"
    mongo = connect(url, name, event_listeners=[listener], connectTimeoutMS=300_000)
    scratch = connect(url, f"bench_templates_{entries}")
    await ensure_indexes(mongo)
    await ensure_indexes(scratch)
    await save_program(scratch, clock, PROGRAM)
    await save_program(mongo, clock, PROGRAM)
    clock.set(now - timedelta(days=args.days // 2))
    await save_program(mongo, clock, PROGRAM.model_copy(update={"point_value": Decimal("0.012")}))
    kinds, account = await templates(scratch, FrozenClock(now - timedelta(days=args.days + 5)))
    print(f"\n== {entries:,} entries, {args.members:,} members ==")
    total = await seed(mongo, args, entries, now, kinds, account)
    clock.set(now)
    past = (now - timedelta(days=90)).date()
    print(f"\n{'report':<52} {'time':>8}   {'db cpu':>8}     database commands")
    rolled = await timed(ROLLUP, listener, lambda: roll_up_ledger(mongo, clock), times)
    print(
        f"  {rolled:,} entries rolled up into {await mongo['ledger_hours'].count_documents({}):,} hours"
    )
    assert rolled == entries, f"the rollup took {rolled:,} of {entries:,} entries"
    rolled_up = await liabilities(mongo, clock, listener, past, "rollup", times)
    assert rolled_up[1].net_points == total, f"liability now {rolled_up[1]}, entries' sum {total:,}"
    await other_reports(mongo, clock, listener, past, args.members, times)
    # Without the rollup every report sums the raw entries inside one transaction; on SecantusDB
    # 1,000,000 entries take longer than a transaction's 30 s budget outside a request.
    await mongo["meta"].delete_many({})
    try:
        raw = await liabilities(mongo, clock, listener, past, "no rollup (raw entries)", times)
    except TransactionFailed as exc:
        print(f"  no rollup: refused after the transaction budget ({exc})")
    else:
        assert raw == rolled_up, f"raw entries {raw}, rollup {rolled_up}"
    await mongo.client.drop_database(name)  # the next size's seeding on a smaller database
    await mongo.close()
    await scratch.close()
    return times


def compare(sizes: list[int], runs: list[Timings]) -> None:
    """Every figure at each size, and the largest size's over the smallest's: in time, and in the
    database's CPU (the fairer figure on a machine other work keeps busy)."""
    factor = sizes[-1] / sizes[0]
    heads = "".join(f"{size:>12,}" for size in sizes)
    for title, of in (("seconds", lambda run: run), ("database CPU seconds", lambda run: run.cpu)):
        print(f"\n{'figure (' + title + ') at entries':<52}{heads}   ratio for {factor:g}×")
        for name in runs[0]:
            cells = "".join(f"{of(run).get(name, float('nan')):>12.2f}" for run in runs)
            ratio = of(runs[-1]).get(name, float("nan")) / max(of(runs[0])[name], 1e-9)
            print(f"{name:<52}{cells}   {ratio:6.2f}×")
    for title, ratio in (
        ("time", runs[-1][ROLLUP] / max(runs[0][ROLLUP], 1e-9)),
        ("database CPU", runs[-1].cpu[ROLLUP] / max(runs[0].cpu[ROLLUP], 1e-9)),
    ):
        verdict = "linear" if ratio <= GOAL * factor / 5 else "NOT linear"
        print(
            f"rollup, {title}: {ratio:.2f}× for {factor:g}× the entries ({verdict}; "
            f"goal ≤ {GOAL}× for 5×)"
        )


async def liabilities(
    mongo: Mongo, clock: FrozenClock, listener: Commands, past: date, how: str, times: Timings
) -> tuple[Liability, Liability]:
    """The liability at the end of `past` and now."""
    then = await timed(
        f"liability as of {past}, {how}",
        listener,
        lambda: liability_as_of(mongo, clock, on=past),
        times,
    )
    print(f"  {then.points:,} points, {then.money} {then.value.currency}")
    now = await timed(
        f"liability as of now, {how}", listener, lambda: liability_as_of(mongo, clock), times
    )
    print(f"  {now.points:,} points, {now.money} {now.value.currency}")
    return then, now


async def other_reports(
    mongo: Mongo, clock: FrozenClock, listener: Commands, past: date, members: int, times: Timings
) -> None:
    """The issuance of a month by day and of a year by month, the top earners of a month and the
    member activity."""
    month = (clock.now() - timedelta(days=40)).date().replace(day=1)
    month_end = (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    by_day = await timed(
        "issuance of a month by day, rollup",
        listener,
        lambda: points_flow(mongo, month, month_end, Period.DAY),
        times,
    )
    assert len(by_day.rows) == month_end.day and sum(r.entries for r in by_day.rows), by_day
    by_month = await timed(
        "issuance of a year by month, rollup",
        listener,
        lambda: points_flow(mongo, past.replace(day=1) - timedelta(days=270), past, Period.MONTH),
        times,
    )
    assert len(by_month.rows) == 10 and sum(r.entries for r in by_month.rows), by_month
    top = await timed(
        "top 20 earners of a month, counted",
        listener,
        lambda: top_earners(mongo, month, month_end, 20),
        times,
    )
    points = [row.points for row in top.rows]
    assert 0 < len(points) <= 20 and points == sorted(points, reverse=True), top
    again = await timed(
        "top 20 earners of a month, kept",
        listener,
        lambda: top_earners(mongo, month, month_end, 20),
        times,
    )
    assert again == top, (again, top)
    activity = await timed(
        f"member activity ({members:,} accounts)",
        listener,
        lambda: member_activity(mongo, clock, 365),
        times,
    )
    groups = (activity.active, activity.dormant, activity.never_active)
    assert sum(group.members for group in groups) == members, activity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--entries", default="200000,1000000", help="the sizes to compare, comma-separated"
    )
    parser.add_argument("--days", type=int, default=365, help="the entries' span, back from now")
    parser.add_argument("--batch", type=int, default=10_000, help="entries per insert_many")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    sizes = sorted(int(size) for size in str(args.entries).split(","))
    random.seed(11)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=False)
        url = server.start()
        assert server.process is not None
        DB_PID.append(server.process.pid)
        try:
            runs = [asyncio.run(bench(url, args, size)) for size in sizes]
        finally:
            server.stop()
    if len(sizes) > 1:
        compare(sizes, runs)


if __name__ == "__main__":
    main()
