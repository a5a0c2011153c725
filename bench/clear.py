"""Bulk 清零 benchmark: members per second and database commands per member.

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder):

    .venv/bin/python bench/clear.py [--members 2000] [--lots-each 3] [--active 200] [--smoke]

Seeds `--members` members last active three years ago with `--lots-each` lots each (and
`--active` members active now, whom the filter must leave alone), then times the dry run, the
job's creation (the members decided once) and its run (one transaction per member), and checks
that each step counted every dormant member and their points, that the active members kept theirs,
and that every balance still matches the ledger; then it times a bare batched update making the
same writes on a copy of the dormant members (`bare`: accounts, lots, entries and the job's
position, TXN_MEMBERS members a transaction) and prints the job's ratio to it; a failed check ends it with a non-zero status.
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
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.corrections import (
    TXN_MEMBERS,
    JobKind,
    JobStatus,
    MemberFilter,
    create_job,
    preview,
    run_job,
)
from app.db import Mongo, connect, ensure_indexes, run_in_transaction
from app.embedded import EmbeddedMongo
from app.ledger import OpeningEarn, Rolling, get_balance, open_books, verify_balances
from bench.api import cpu_seconds
from bench.ledger import Commands


def _cpu(server_pid: int) -> float:
    """CPU seconds used so far by the database process and this one."""
    return cpu_seconds(server_pid) + time.process_time()


# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run, at sizes of a few seconds.
SMOKE = {"members": 20, "lots_each": 2, "active": 3}


async def seed(
    mongo: Mongo, clock: FrozenClock, members: int, lots_each: int, active: int, prefix: str = "d"
) -> int:
    """The dormant and the active members; returns the dormant members' points."""
    long_ago = clock.now() - timedelta(days=3 * 365)
    policy = Rolling(days=5 * 365)
    for start in range(0, members, 1000):
        books = {
            f"{prefix}{n:06d}": [OpeningEarn(100 + n % 7, long_ago, policy)] * lots_each
            for n in range(start, min(start + 1000, members))
        }
        await open_books(mongo, books, long_ago)
    fresh = {f"a{n:06d}": [OpeningEarn(50, clock.now())] for n in range(active)}
    await open_books(mongo, fresh, clock.now())
    return sum((100 + n % 7) * lots_each for n in range(members))


async def bare(source: Mongo, mongo: Mongo, members: int, batch: int) -> None:
    """The floor: the same writes as the job's, batch by batch, with nothing decided: each batch's
    accounts set to a cleared one's (from `source`), their live lots emptied, a CLEAR entry each,
    the job's position moved."""
    account = await source["accounts"].find_one({"_id": "d000000"}, {"_id": 0})
    entry = await source["ledger"].find_one({"member_id": "d000000", "kind": "CLEAR"})
    assert account is not None and entry is not None
    await mongo["bare_jobs"].insert_one({"_id": "bare", "done": 0})
    ids = [f"e{n:06d}" for n in range(members)]
    for start in range(0, members, batch):
        chunk = ids[start : start + batch]

        async def work(session: Any, chunk: list[str] = chunk) -> None:
            await mongo["accounts"].bulk_write(
                [UpdateOne({"_id": member}, {"$set": account}) for member in chunk],
                ordered=False,
                session=session,
            )
            live = {"member_id": {"$in": chunk}, "status": {"$in": ["pending", "available"]}}
            await mongo["lots"].update_many(
                live, {"$set": {"remaining": 0, "status": "exhausted"}}, session=session
            )
            await mongo["ledger"].insert_many(
                [
                    {
                        **entry,
                        "_id": ObjectId(),
                        "member_id": member,
                        "idempotency_key": f"bare:{member}",
                    }
                    for member in chunk
                ],
                session=session,
            )
            await mongo["bare_jobs"].update_one(
                {"_id": "bare"}, {"$inc": {"done": len(chunk)}}, session=session
            )

        await run_in_transaction(mongo.client, work)


async def bench(url: str, server_pid: int, members: int, lots_each: int, active: int) -> None:
    commands = Commands()
    mongo: Mongo = connect(url, "bench_clear", event_listeners=[commands])
    try:
        await ensure_indexes(mongo)
        clock = FrozenClock(datetime(2027, 6, 1, tzinfo=UTC))
        points = await seed(mongo, clock, members, lots_each, active)
        dormant = MemberFilter(dormant_days=730)

        started = time.perf_counter()
        shown = await preview(mongo, dormant, clock.now())
        print(
            f"dry run: {shown.members} members, {shown.points} points "
            f"in {time.perf_counter() - started:.2f} s"
        )
        assert (shown.members, shown.points) == (members, points), (shown, members, points)

        started = time.perf_counter()
        job = await create_job(
            mongo,
            clock,
            kind=JobKind.CLEAR,
            member_filter=dormant,
            reason="bench",
            actor="bench",
            idempotency_key="bench-1",
        )
        print(f"job made ({job.total} members decided) in {time.perf_counter() - started:.2f} s")
        assert (job.total, job.expected_points) == (members, points), job

        commands.counts.clear()
        started, cpu = time.perf_counter(), _cpu(server_pid)
        done = await run_job(mongo, clock, job.id, owner="bench")
        elapsed, job_cpu = time.perf_counter() - started, _cpu(server_pid) - cpu
        total = sum(commands.counts.values())
        print(
            f"job run: {done.changed} members cleared, {done.points} points, {elapsed:.1f} s, "
            f"{done.changed / elapsed:.0f} members/s, {total / max(done.changed, 1):.2f} "
            f"commands per member, {job_cpu / members * 1000:.2f} ms CPU per member"
        )
        print("  commands:", dict(commands.counts.most_common()))
        floor_db: Mongo = connect(url, "bench_clear_floor", event_listeners=[commands])
        await ensure_indexes(floor_db)
        await seed(floor_db, clock, members, lots_each, 0, prefix="e")
        commands.counts.clear()
        started, cpu = time.perf_counter(), _cpu(server_pid)
        await bare(mongo, floor_db, members, TXN_MEMBERS)
        floor, floor_cpu = time.perf_counter() - started, _cpu(server_pid) - cpu
        await floor_db.close()
        used = sum(commands.counts.values())
        print(
            f"bare batched update: {members / floor:.0f} members/s, {used / members:.2f} "
            f"commands per member, {floor_cpu / members * 1000:.2f} ms CPU per member; "
            f"the job / bare: {floor / elapsed:.2f}x by wall time, "
            f"{floor_cpu / job_cpu:.2f}x by CPU (the database's and this process's)"
        )
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
            assert server.process is not None
            asyncio.run(bench(url, server.process.pid, args.members, args.lots_each, args.active))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
