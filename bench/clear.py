"""Bulk 清零 benchmark: members per second and database commands per member.

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder):

    .venv/bin/python bench/clear.py [--members 2000] [--lots-each 3] [--active 200] [--smoke]

Seeds `--members` members last active three years ago with `--lots-each` lots each (and
`--active` members active now, whom the filter must leave alone), then times the dry run, the
job's creation (the members decided once) and its run (one transaction per member), and checks
that each step counted every dormant member and their points, that the active members kept theirs,
and that every balance still matches the ledger; a failed check ends it with a non-zero status.
`--smoke` runs tiny sizes in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.corrections import JobKind, JobStatus, MemberFilter, create_job, preview, run_job
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import OpeningEarn, Rolling, get_balance, open_books, verify_balances
from bench.ledger import Commands

# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run, at sizes of a few seconds.
SMOKE = {"members": 20, "lots_each": 2, "active": 3}


async def seed(mongo: Mongo, clock: FrozenClock, members: int, lots_each: int, active: int) -> int:
    """The dormant and the active members; returns the dormant members' points."""
    long_ago = clock.now() - timedelta(days=3 * 365)
    policy = Rolling(days=5 * 365)
    for start in range(0, members, 1000):
        books = {
            f"d{n:06d}": [OpeningEarn(100 + n % 7, long_ago, policy)] * lots_each
            for n in range(start, min(start + 1000, members))
        }
        await open_books(mongo, books, long_ago)
    fresh = {f"a{n:06d}": [OpeningEarn(50, clock.now())] for n in range(active)}
    await open_books(mongo, fresh, clock.now())
    return sum((100 + n % 7) * lots_each for n in range(members))


async def bench(url: str, members: int, lots_each: int, active: int) -> None:
    commands = Commands()
    mongo: Mongo = connect(url, "bench_clear", event_listeners=[commands])
    try:
        await ensure_indexes(mongo)
        clock = FrozenClock(datetime(2027, 6, 1, tzinfo=UTC))
        points = await seed(mongo, clock, members, lots_each, active)
        dormant = MemberFilter(dormant_days=730)

        started = time.perf_counter()
        shown = await preview(mongo, dormant, clock.now())
        print(f"dry run: {shown.members} members, {shown.points} points "
              f"in {time.perf_counter() - started:.2f} s")  # fmt: skip
        assert (shown.members, shown.points) == (members, points), (shown, members, points)

        started = time.perf_counter()
        job = await create_job(
            mongo, clock, kind=JobKind.CLEAR, member_filter=dormant, reason="bench",
            actor="bench", idempotency_key="bench-1",
        )  # fmt: skip
        print(f"job made ({job.total} members decided) in {time.perf_counter() - started:.2f} s")
        assert (job.total, job.expected_points) == (members, points), job

        commands.counts.clear()
        started = time.perf_counter()
        done = await run_job(mongo, clock, job.id, owner="bench")
        elapsed = time.perf_counter() - started
        total = sum(commands.counts.values())
        print(f"job run: {done.changed} members cleared, {done.points} points, {elapsed:.1f} s, "
              f"{done.changed / elapsed:.0f} members/s, {total / max(done.changed, 1):.1f} "
              f"commands per member")  # fmt: skip
        print("  commands:", dict(commands.counts.most_common()))
        assert done.status is JobStatus.DONE, done
        assert (done.changed, done.skipped, done.points) == (members, 0, points), done
        for n in range(active):
            kept = await get_balance(mongo, f"a{n:06d}", clock.now())
            assert kept.available == 50, f"an active member was cleared: {kept}"
        drifts = await verify_balances(mongo)
        print("verify_balances:", "no drift" if not drifts else f"{len(drifts)} drift(s)")
        assert not drifts, drifts
    finally:
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--lots-each", type=int, default=3)
    parser.add_argument("--active", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not args.smoke)
        url = server.start()
        try:
            asyncio.run(bench(url, args.members, args.lots_each, args.active))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
