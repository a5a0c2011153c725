"""Reports benchmark: every report over 100,000 members, at 200,000 and 1,000,000 entries.

    .venv/bin/python bench/reports.py [--members 100000] [--entries 200000,1000000] [--days 365]
                                      [--data FOLDER] [--seed-only] [--skip-raw] [--smoke]

Runs on the embedded database (a SecantusDB process per size, in a temporary folder or in
--data/<size>, kept and reused: seeding a million entries takes most of an hour on a shared
machine; not synced on commit: seeding is not what is measured). The members' books are clones
of template members the ledger itself wrote (bench/books.py: earns with a breakdown, a partner's
earn inside a return window, dated points expired by the job, spends, adjustments, refunds, 清零),
with new ids, members and instants, spread over `--days` days and inserted with insert_many
before the indexes are built; `verify_balances` checks the very documents of a clone of every
template used. Then it prints, with the database commands each took and the database process's
CPU seconds (from /proc: the fairer figure on a machine other work keeps busy):

- the hourly rollup built once (what the worker does as entries arrive);
- the liability as of now with the maturities read by `_id` (before) and by their indexed `at`;
- the liability as of 90 days ago and as of now, the member activity summed from every account
  (before) and from the tally the rollup's job keeps (built once, timed), which must agree;
- issuance of a month by day and of a year by month, breakage of a year, the liability of a
  month by day;
- the reports that group entries themselves (earns by rule, points by partner, top earners first
  read) over a week and a month: a period holding more than MAX_GROUPED entries is refused
  (ReportTooLarge), and the refusal's cost is the figure; top earners of the last month as the
  worker keeps them; redemptions by reward;
- the worst case: the liability and the member activity 30 days on with no job run meanwhile
  (the points that expired since read from their lots, overdue; the seeded books have none
  overdue at their `now`, as when the worker keeps up), which must agree with each other;
- last (unless --skip-raw), the two liabilities summed from the raw entries alone.

It checks what it can know: the rollup took every entry, the liability now is the seeded entries'
sum, the raw entries give the rollup's liabilities, the flows have a row per period, the top
earners are at most 20 and in order, and the member activity counts every account; a failed check
ends it with a non-zero status. `--smoke` runs tiny sizes in seconds (CI).

Last, a table gives every figure at each size and the ratio of the largest to the smallest, and
the commands of each: the rollup's build should grow as the entries do (≤ 5.5× for 5×), the
reports read with it not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pymongo import UpdateOne

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.db import Document, Mongo, TransactionFailed, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import verify_balances
from app.program import Program, Tier, save_program
from app.reports import (
    Group,
    Liability,
    MemberActivity,
    Period,
    ReportTooLarge,
    breakage,
    by_partner,
    caught_up,
    earn_by_rule,
    keep_activity,
    keep_last_month,
    liability_as_of,
    liability_series,
    member_activity,
    points_flow,
    redemptions_by_reward,
    roll_up_ledger,
    top_earners,
)
from app.reports.activity import DAYS as ACTIVITY_DAYS
from app.reports.activity import MEMBERS as ACTIVITY_MEMBERS
from app.reports.activity import STATE_ID as ACTIVITY_ID
from app.reports.rollup import MATURITIES_AT, SETTLE, STATE_ID
from bench.api import cpu_seconds
from bench.books import Template, read_template, seed_books, write_template
from bench.ledger import Commands

PROGRAM = Program(
    name="Bench Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(Tier(code="member", name="Member", threshold=0),),
)
# What `--smoke` runs: every report and figure of the full run, at sizes of a few seconds.
SMOKE = {"members": 100, "entries": "200,600", "days": 365, "batch": 100}
ROLLUP = "rollup built (once)"
TALLY = "member activity tally built (once)"
LATER = timedelta(days=30)  # the worst case: this long with no job run (points overdue)
TEMPLATES: list[Template] = []  # the template members, once written
BOOKS = "bench_books"  # in `meta`: the books are written (the indexes and program may not be)
SEEDED = "bench_seed"  # in `meta`: what was seeded, when (a later run with --data reuses it)
GOAL = 5.5  # the rollup's build at 5× the entries: at most this many times the time


async def make_templates(url: str, name: str, start: datetime, longest: int) -> list[Template]:
    """Template members of 1 to `longest` operations (two of each length), written through the
    ledger's API in a database of their own from `start` on; once per run (every size clones
    them)."""
    if TEMPLATES:
        return TEMPLATES
    scratch = connect(url, name)
    await ensure_indexes(scratch)
    clock = FrozenClock(start)
    await save_program(scratch, clock, PROGRAM)
    found = []
    for n in range(2 * longest):
        member = f"t{n:03d}"
        clock.set(start)
        await write_template(scratch, clock, member, n // 2 + 1)
        found.append(await read_template(scratch, member))
    await scratch.client.drop_database(name)
    await scratch.close()
    TEMPLATES.extend(found)
    return found


async def seed(
    mongo: Mongo, url: str, args: argparse.Namespace, entries: int, now: datetime
) -> tuple[int, int]:
    """The members' books (bench/books.py), the indexes, the program (its point value changed
    half-way), and a check of a clone of every template with `verify_balances`; returns the
    entries written and their sum of points, also kept in `meta` for a later run (--data)."""
    most = max(1, round(max(args.sizes) / args.members))  # entries a member, at the largest size
    start = now - timedelta(days=args.days + 200)
    started = time.perf_counter()
    templates = await make_templates(url, "bench_templates", start, 2 * most)
    print(
        f"templates: {len(templates)} members, {sum(t.entries for t in templates):,} entries "
        f"through the ledger in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    started = time.perf_counter()
    # Every entry recorded before now − SETTLE, so the rollup built at `now` takes them all.
    written, total, samples = await seed_books(
        mongo,
        templates,
        args.members,
        entries,
        first=now - timedelta(days=args.days),
        last=now - SETTLE - timedelta(seconds=10),
        batch=args.batch,
    )
    took = time.perf_counter() - started
    print(f"books: {written:,} entries in {took:.1f} s ({written / took:,.0f} a second)")
    await mongo["meta"].replace_one(
        {"_id": BOOKS}, {"entries": written, "total": total, "now": now}, upsert=True
    )
    await check(url, samples, f"bench_verify_{entries}")
    return await finish(mongo, args, written, total, now)


async def check(url: str, samples: dict[str, list[Document]], name: str) -> None:
    """`verify_balances` over the very documents of the sampled members, in a database of their
    own: on the seeded database its per-member reads scan the whole ledger (a member's entries
    are indexed by number, partially), and a whole verify reads every lot and account."""
    scratch = connect(url, name)
    for collection, docs in samples.items():
        if docs:
            await scratch[collection].insert_many(docs)
    await ensure_indexes(scratch)
    drifts = await verify_balances(scratch)
    members = len(samples["accounts"])
    await scratch.client.drop_database(name)
    await scratch.close()
    assert not drifts, f"the seeded books drift: {drifts[:5]}"
    print(
        f"verify_balances: no drift in {members:,} seeded members (a clone of every template used)"
    )


async def finish(
    mongo: Mongo, args: argparse.Namespace, written: int, total: int, now: datetime
) -> tuple[int, int]:
    """The indexes (built once, after the documents), the program (its point value changed
    half-way), and the seed's record in `meta` for later runs (--data)."""
    started = time.perf_counter()
    await ensure_indexes(mongo)
    print(f"indexes built in {time.perf_counter() - started:.1f} s", flush=True)
    clock = FrozenClock(now - timedelta(days=args.days + 10))
    await save_program(mongo, clock, PROGRAM)
    clock.set(now - timedelta(days=args.days // 2))
    await save_program(mongo, clock, PROGRAM.model_copy(update={"point_value": Decimal("0.012")}))
    seeded = {"entries": written, "total": total, "now": now, "members": args.members}
    await mongo["meta"].replace_one({"_id": SEEDED}, seeded, upsert=True)
    return written, total


async def reset_rollup(mongo: Mongo) -> None:
    """The rollup and what it keeps, gone: the bench builds it from the first entry each run."""
    for name in ("ledger_hours", "ledger_days", "ledger_months", "ledger_maturities"):
        await mongo[name].delete_many({})
    for name in ("ledger_earners", ACTIVITY_MEMBERS, ACTIVITY_DAYS):
        await mongo[name].delete_many({})
    await mongo["meta"].delete_many({"_id": {"$in": [STATE_ID, ACTIVITY_ID]}})


class Timings(dict[str, float]):
    """Each figure's seconds, in the order measured; `cpu`: the database process's CPU seconds
    (from /proc: what the work cost, whatever else the machine runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}
        self.commands: dict[str, int] = {}


DB_PID: list[int] = []  # the embedded database's process of the size measured


async def timed(
    name: str, listener: Commands, work: Callable[[], Awaitable[Any]], times: Timings
) -> Any:
    listener.counts.clear()
    cpu = cpu_seconds(DB_PID[0])
    started = time.perf_counter()
    try:
        result = await work()
    except ReportTooLarge as exc:  # a report that would group too many entries: the refusal
        result = exc
    took = time.perf_counter() - started
    times[name] = took
    times.cpu[name] = cpu_seconds(DB_PID[0]) - cpu
    times.commands[name] = sum(listener.counts.values())
    commands = ", ".join(f"{k} {v}" for k, v in sorted(listener.counts.items()))
    print(f"{name:<62} {took:8.2f} s {times.cpu[name]:8.2f} s   ({commands})", flush=True)
    if isinstance(result, ReportTooLarge):
        print(f"  refused: {result.entries:,} entries to group, limit {result.limit:,}")
    return result


async def bench(url: str, args: argparse.Namespace, entries: int) -> Timings:
    """Seed `entries` entries in a database of their own (or find them seeded there, --data) and
    time every report over them."""
    listener = Commands()
    times = Timings()
    # SecantusDB answers one command at a time: while it sums a million entries it cannot answer
    # the client's heartbeat, and with the product's 2 s connect timeout the client would cancel
    # the running command. The bench waits as long as a report takes instead.
    name = f"bench_reports_{entries}"
    mongo = connect(url, name, event_listeners=[listener], connectTimeoutMS=300_000)
    print(f"\n== {entries:,} entries, {args.members:,} members ==", flush=True)
    seeded = await mongo["meta"].find_one({"_id": SEEDED})
    books = await mongo["meta"].find_one({"_id": BOOKS})
    if seeded is None and books is not None:  # a run stopped after the books: finish it
        await finish(mongo, args, books["entries"], books["total"], books["now"])
        seeded = await mongo["meta"].find_one({"_id": SEEDED})
    if seeded is None or seeded["members"] != args.members:
        await mongo.client.drop_database(name)
        await seed(mongo, url, args, entries, datetime.now(UTC).replace(microsecond=0))
        seeded = await mongo["meta"].find_one({"_id": SEEDED})
        assert seeded is not None
    else:
        print(f"seeded before: {seeded['entries']:,} entries (as of {seeded['now']})")
        await ensure_indexes(mongo)  # those the code has added since the seed
    if args.seed_only:
        await mongo.close()
        return times
    written, total = int(seeded["entries"]), int(seeded["total"])
    now = seeded["now"]
    clock = FrozenClock(now)
    past = (now - timedelta(days=90)).date()
    print(f"\n{'report':<62} {'time':>8}   {'db cpu':>8}     database commands")
    if args.keep_rollup and await caught_up(mongo, clock):
        print("  the rollup kept from a run before (--keep-rollup)")
    else:
        await reset_rollup(mongo)
        rolled = await timed(ROLLUP, listener, lambda: roll_up_ledger(mongo, clock), times)
        hours = await mongo["ledger_hours"].count_documents({})
        print(f"  {rolled:,} entries rolled up into {hours:,} hours")
        assert rolled == written, f"the rollup took {rolled:,} of {written:,} entries"
    await mongo["ledger_earners"].delete_many({})  # every top earners' first read is one
    await mongo["meta"].update_one({"_id": STATE_ID}, {"$unset": {MATURITIES_AT: ""}})
    await timed(  # before: as if the maturities were kept before they had an indexed `at`
        "liability as of now, maturities by _id (before)",
        listener,
        lambda: liability_as_of(mongo, clock),
        times,
    )
    await mongo["meta"].update_one({"_id": STATE_ID}, {"$set": {MATURITIES_AT: True}})
    rolled_up = await liabilities(mongo, clock, listener, past, "rollup", times)
    assert rolled_up[1].net_points == total, f"liability now {rolled_up[1]}, entries' sum {total:,}"
    await mongo["meta"].delete_many({"_id": ACTIVITY_ID})  # before: no tally, every account
    for name in (ACTIVITY_MEMBERS, ACTIVITY_DAYS):
        await mongo[name].delete_many({})
    before = await activity(mongo, clock, listener, "every account (before)", times)
    tallied = await timed(TALLY, listener, lambda: keep_activity(mongo, clock), times)
    print(f"  {tallied:,} members tallied")
    after = await activity(mongo, clock, listener, "tally", times)
    assert after == before, f"the tally's {after}, the accounts' {before}"
    assert sum(g.points for g in groups(after)) == rolled_up[1].points, (after, rolled_up[1])
    await other_reports(mongo, clock, listener, past, args.members, times)
    await worst_case(mongo, clock, listener, times)
    if not args.skip_raw:
        # Without the rollup every report sums the raw entries inside one transaction; on
        # SecantusDB 1,000,000 entries take longer than a transaction's 30 s budget.
        await reset_rollup(mongo)
        try:
            raw = await liabilities(mongo, clock, listener, past, "no rollup (raw entries)", times)
        except TransactionFailed as exc:
            print(f"  no rollup: refused after the transaction budget ({exc})")
        else:
            assert raw == rolled_up, f"raw entries {raw}, rollup {rolled_up}"
    if args.data is None:
        await mongo.client.drop_database(name)  # the next size's seeding on a smaller database
    await mongo.close()
    return times


def compare(sizes: list[int], runs: list[Timings]) -> None:
    """Every figure at each size, and the largest size's over the smallest's: in time, and in the
    database's CPU (the fairer figure on a machine other work keeps busy)."""
    factor = sizes[-1] / sizes[0]
    heads = "".join(f"{size:>12,}" for size in sizes)
    for title, of in (("seconds", lambda run: run), ("database CPU seconds", lambda run: run.cpu)):
        print(f"\n{'figure (' + title + ') at entries':<62}{heads}   ratio for {factor:g}×")
        for name in runs[0]:
            cells = "".join(f"{of(run).get(name, float('nan')):>12.2f}" for run in runs)
            base = of(runs[0])[name]  # below 10 ms a ratio says nothing (the /proc tick)
            ratio = of(runs[-1]).get(name, float("nan")) / base if base >= 0.01 else float("nan")
            print(f"{name:<62}{cells}   {ratio:6.2f}×")
    print(f"\n{'database commands at entries':<62}{heads}")
    for name in runs[0]:
        print(f"{name:<62}" + "".join(f"{run.commands.get(name, 0):>12,}" for run in runs))
    if ROLLUP not in runs[0] or ROLLUP not in runs[-1]:
        return  # a run kept the rollup of a run before (--keep-rollup)
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
        f"liability as of 90 days ago, {how}",
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
    year = await timed(
        "breakage of a year",
        listener,
        lambda: breakage(mongo, past - timedelta(days=364), past),
        times,
    )
    assert year.issued > 0, year
    series = await timed(
        "liability of a month by day",
        listener,
        lambda: liability_series(mongo, month, month_end),
        times,
    )
    assert len(series.days) == month_end.day, series
    week = month + timedelta(days=7)
    week_end = week + timedelta(days=6)
    for label, span in (("a week", (week, week_end)), ("a month", (month, month_end))):
        await timed(
            f"earns by rule of {label}", listener, lambda s=span: earn_by_rule(mongo, *s), times
        )
        await timed(
            f"points by partner of {label}", listener, lambda s=span: by_partner(mongo, *s), times
        )
    first = await timed(
        "top 20 earners of a week, first read",
        listener,
        lambda: top_earners(mongo, week, week_end, 20),
        times,
    )
    # A week of more entries than a report groups on request is refused (ReportTooLarge), as the
    # grouped reports above are: at 1,000,000 entries a week holds some 11,000.
    assert isinstance(first, ReportTooLarge) or 0 < len(first.rows) <= 20, first
    await keep_last_month(mongo, clock)  # the worker's job: the last closed month counted
    today = clock.now().astimezone(PROGRAM.zone).date()
    closed = today.replace(day=1) - timedelta(days=1)
    top = await timed(
        "top 20 earners of the last month, kept",
        listener,
        lambda: top_earners(mongo, closed.replace(day=1), closed, 20),
        times,
    )
    points = [row.points for row in top.rows]
    assert 0 < len(points) <= 20 and points == sorted(points, reverse=True), top
    await timed(
        "top 20 earners of this month, first read",
        listener,
        lambda: top_earners(mongo, today.replace(day=1), today, 20),
        times,
    )
    await timed(
        "redemptions by reward of a month",
        listener,
        lambda: redemptions_by_reward(mongo, month, month_end),
        times,
    )


def groups(activity: MemberActivity) -> tuple[Group, Group, Group]:
    return activity.active, activity.dormant, activity.never_active


async def activity(
    mongo: Mongo, clock: FrozenClock, listener: Commands, how: str, times: Timings
) -> MemberActivity:
    """The member activity as of the clock's now, dormant after 180 days: every account in a
    group, and members in both."""
    found: MemberActivity = await timed(
        f"member activity (dormant: 180 days), {how}",
        listener,
        lambda: member_activity(mongo, clock, 180),
        times,
    )
    accounts = await mongo["accounts"].count_documents({})
    assert sum(group.members for group in groups(found)) == accounts, found
    assert found.dormant.members and found.active.members, found
    return found


async def worst_case(mongo: Mongo, clock: FrozenClock, listener: Commands, times: Timings) -> None:
    """The liability and the member activity LATER on with no job run meanwhile (no expiry, no
    rollup, no tally), every point that expired since read from its lot (overdue): the worst
    case, the worker expiring lots continuously. The seeded books have no point past its expiry
    at their `now` and none that expires later (bench/books.py expires every dated lot of its
    templates), as a kept-up worker's; so every available lot without an expiry is given one
    inside those days, and put back after. Both reports still agree (what the accounts hold less
    the overdue points is what the entries sum to less them)."""
    lots = mongo["lots"]
    undated = await lots.find(
        {"status": "available", "expires_at": None}, {"expires_at": 1}
    ).to_list(None)
    span = LATER // timedelta(milliseconds=1)
    moved = [
        UpdateOne(
            {"_id": lot["_id"]},
            {
                "$set": {
                    "expires_at": clock.now() + timedelta(milliseconds=random.randrange(1, span))
                }
            },
        )
        for lot in undated
    ]
    back = [
        UpdateOne(
            {"_id": lot["_id"]},
            {"$set": {"expires_at": None}}
            if "expires_at" in lot
            else {"$unset": {"expires_at": ""}},
        )
        for lot in undated
    ]
    await _write(lots, moved)
    later = FrozenClock(clock.now() + LATER)
    how = f"{LATER.days} days, no job (worst case)"
    print(f"  worst case: {len(undated):,} lots given an expiry in the next {LATER.days} days")
    try:
        owed = await timed(
            f"liability as of now, {how}", listener, lambda: liability_as_of(mongo, later), times
        )
        print(f"  {owed.points:,} points")
        found = await activity(mongo, later, listener, how, times)
        assert sum(g.points for g in groups(found)) == owed.points, (found, owed)
    finally:
        await _write(lots, back)


async def _write(collection: Any, updates: list[UpdateOne]) -> None:
    for start in range(0, len(updates), 10_000):
        await collection.bulk_write(updates[start : start + 10_000], ordered=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument(
        "--entries", default="200000,1000000", help="the sizes to compare, comma-separated"
    )
    parser.add_argument("--days", type=int, default=365, help="the entries' span, back from now")
    parser.add_argument("--batch", type=int, default=10_000, help="entries per insert_many")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    parser.add_argument(
        "--data",
        type=Path,
        help="keep each size's database in a folder of its own here, and reuse what is seeded",
    )
    parser.add_argument("--seed-only", action="store_true", help="seed (--data) and stop")
    parser.add_argument("--skip-raw", action="store_true", help="no liability from raw entries")
    parser.add_argument(
        "--keep-rollup", action="store_true", help="measure with the rollup a run before built"
    )
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    sizes = args.sizes = sorted(int(size) for size in str(args.entries).split(","))
    random.seed(11)
    runs = []
    for size in sizes:  # each size on a database server of its own (kept in --data/<size>)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "db" if args.data is None else args.data / str(size)
            server = EmbeddedMongo(folder, sync_on_commit=False)
            url = server.start()
            assert server.process is not None
            DB_PID[:] = [server.process.pid]
            try:
                runs.append(asyncio.run(bench(url, args, size)))
            finally:
                server.stop()
    if len(sizes) > 1 and not args.seed_only:
        compare(sizes, runs)


if __name__ == "__main__":
    main()
