"""Backup and restore benchmark: documents and megabytes per second each way.

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder):

    .venv/bin/python bench/backup.py [--members 100000] [--entries-each 10] [--smoke]

Seeds `--members` members, each with an account and `--entries-each` earns (an entry and a lot
each: 100,000 members and 1,000,000 entries at the defaults), then times `take_backup` (one
snapshot transaction, app/backup) and `restore_archive` into a second, empty database, and
checks that every collection came back with its count, that the manifest lists them, and that
the restore's ledger check (`ledger verify`) found no drift; a failed check ends it with a non-zero
status. MB/s is the documents' BSON size (the archive's size is printed beside it). `--smoke`
runs tiny sizes in a few seconds (CI).
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

from app.backup import restore_archive, take_backup
from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import OpeningEarn, open_books
from app.members import upgrade_database
from bench.ledger import Commands

# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run, at sizes of a few seconds.
SMOKE = {"members": 200, "entries_each": 3}
CHUNK = 1000  # members seeded per write


async def seed(mongo: Mongo, clock: FrozenClock, members: int, entries_each: int) -> None:
    started = time.perf_counter()
    for start in range(0, members, CHUNK):
        ids = [f"m{n:07d}" for n in range(start, min(start + CHUNK, members))]
        await mongo["members"].insert_many(
            [
                {
                    "_id": member_id,
                    "member_no": n,
                    "name": f"Member {n}",
                    "tier": "member",
                    "phone": f"+86138{n:08d}",
                    "status": "ACTIVE",
                    "created_at": clock.now(),
                }
                for n, member_id in enumerate(ids, start=start)
            ]
        )
        earns = {
            member_id: [
                OpeningEarn(10 + k, clock.now() - timedelta(days=k)) for k in range(entries_each)
            ]
            for member_id in ids
        }
        await open_books(mongo, earns, clock.now())
    print(
        f"seeded {members} members, {members * entries_each} entries "
        f"in {time.perf_counter() - started:.0f} s"
    )


async def counts(mongo: Mongo) -> dict[str, int]:
    names = await mongo.db.list_collection_names()
    return {name: await mongo[name].count_documents({}) for name in sorted(names)}


def rate(documents: int, size: int, seconds: float) -> str:
    return (
        f"{documents} documents, {size / 1e6:.1f} MB in {seconds:.1f} s: "
        f"{documents / seconds:,.0f} documents/s, {size / 1e6 / seconds:.1f} MB/s"
    )


async def bench(url: str, folder: Path, members: int, entries_each: int) -> None:
    commands = Commands()
    source = connect(url, "bench_backup", event_listeners=[commands])
    target = connect(url, "bench_restored", event_listeners=[commands])
    try:
        await ensure_indexes(source)
        clock = FrozenClock(datetime(2027, 6, 1, tzinfo=UTC))
        await seed(source, clock, members, entries_each)
        await upgrade_database(source, clock.now())  # as every start does: its markers are written
        before = await counts(source)
        archive = folder / "bench.jifen-backup.gz"

        commands.take()
        started = time.perf_counter()
        manifest = await take_backup(source, archive, now=clock.now())
        elapsed = time.perf_counter() - started
        size = sum(part.bytes for part in manifest.collections)
        print(
            "backup: ",
            rate(manifest.documents, size, elapsed),
            f"(archive {archive.stat().st_size / 1e6:.1f} MB, {commands.take()} commands)",
        )
        listed = {part.name: part.count for part in manifest.collections}
        assert listed == before, (listed, before)

        marks: list[float] = []
        started = time.perf_counter()
        restored = await restore_archive(
            target, archive, now=clock.now(), progress=lambda *_: marks.append(time.perf_counter())
        )
        elapsed = time.perf_counter() - started
        print(
            "restore:",
            rate(manifest.documents, size, elapsed),
            f"({commands.take()} commands): the archive verified in {marks[0] - started:.1f} s, "
            f"written in {marks[-1] - marks[0]:.1f} s, indexes and ledger check "
            f"{started + elapsed - marks[-1]:.1f} s",
        )
        assert restored.drifts == [], restored.drifts[:5]
        after = await counts(target)
        assert after == before, (after, before)
        assert before["ledger"] == members * entries_each, before
        print("restored books: every collection's count matches, ledger check: no drift")
    finally:
        await source.close()
        await target.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries-each", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not args.smoke)
        url = server.start()
        try:
            asyncio.run(bench(url, Path(tmp), args.members, args.entries_each))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
