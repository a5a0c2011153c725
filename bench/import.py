"""Import benchmark: `jifen import`'s work for 100,000 members with two opening lots each.

    .venv/bin/python bench/import.py [--members 100000] [--lots 2] [--smoke]

Writes members.csv and balances.csv into a temporary folder (one refused row in a thousand of
each, as a real export has), starts an embedded database of its own, durable as the embedded
default is (synced on every commit), applies the demo program, and times app.importer's
import_files as the CLI runs it: parsing, checking, members, opening books. Then a rerun (which
imports nothing) and `verify_balances` over everything. Prints the rate and the database commands,
and checks the counts against what the files hold (members, lots, points, refused rows), that the
rerun imported nothing, and that no balance drifts; a failed check ends it with a non-zero status.
`--smoke` runs tiny sizes in a few seconds (CI).

The floor it is compared with: a bare bulk insert of the very documents the import wrote (members,
accounts, lots, entries, read back from its database) into an empty database with the same
indexes, on the same server, one `insert_many` per collection. It prints the ratio of that floor's
time to the import's (1.0: the import costs no more than writing its documents; the goal is ≥ 0.7).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.importer import import_files
from app.ledger import verify_balances
from app.program import save_program
from app.seed import DEMO_PROGRAM
from bench.ledger import Commands

# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run (a refused row of each kind included: members 3 and 7), at sizes of a few seconds.
SMOKE = {"members": 10, "lots": 2}
WRITTEN = ("members", "accounts", "lots", "ledger")  # what an import writes, that the floor copies


def write_files(
    folder: Path, members: int, lots: int, now: datetime
) -> tuple[str, str, dict[str, int]]:
    """The two files, and the counts their import should report."""
    rng = random.Random(5)
    member_lines = ["legacy_id,phone,name,email,birthday,tier,joined_at"]
    balance_lines = ["legacy_id,points,earned_at,expires_at"]
    expected = dict.fromkeys(
        ("members_imported", "balances_imported", "points_imported", "errors"), 0
    )
    for n in range(members):
        refused = n % 1000 == 7  # one refused member row in a thousand: its lots are refused too
        phone = f"139{n:08d}" if not refused else "12345"
        member_lines.append(f"OLD{n},{phone},Member {n},m{n}@example.com,1990-01-01,,2020-01-01")
        expected["members_imported"] += not refused
        expected["errors"] += refused
        for _ in range(lots):
            earned = now - timedelta(days=rng.randint(1, 700))
            expires = (earned + timedelta(days=730)).date().isoformat()
            points = rng.randint(1, 5000) if n % 1000 != 3 else -1  # and a refused lot
            balance_lines.append(f"OLD{n},{points},{earned.date().isoformat()},{expires}")
            if refused or points < 0:
                expected["errors"] += 1
            else:
                expected["balances_imported"] += 1
                expected["points_imported"] += points
    (folder / "members.csv").write_text("\n".join(member_lines) + "\n")
    (folder / "balances.csv").write_text("\n".join(balance_lines) + "\n")
    members_csv, balances_csv = (
        (folder / "members.csv").read_text(),
        (folder / "balances.csv").read_text(),
    )
    return members_csv, balances_csv, expected


async def bench(url: str, members_csv: str, balances_csv: str, expected: dict[str, int]) -> None:
    listener = Commands()
    # A chunk's insert can keep a loaded SecantusDB from the client's heartbeat longer than the
    # product's 2 s connect timeout, and the client's retry of it then fails on its own first
    # attempt's documents (duplicate key): the bench waits as long as a write takes instead.
    mongo = connect(url, "bench_import", event_listeners=[listener], connectTimeoutMS=300_000)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    await ensure_indexes(mongo)
    await save_program(mongo, clock, DEMO_PROGRAM)
    listener.counts.clear()
    shown = [0]

    def progress(done: int, total: int) -> None:
        if done - shown[0] >= total // 10 or done == total:
            shown[0] = done
            print(f"  {done:,}/{total:,} members, {time.perf_counter() - start:.1f} s", flush=True)

    start = time.perf_counter()
    summary = await import_files(
        mongo, clock, members_csv, balances_csv, actor="bench", progress=progress
    )
    took = time.perf_counter() - start
    counts = summary.counts()
    print(
        f"import: {counts['members_imported']:,} members, {counts['balances_imported']:,} lots, "
        f"{counts['points_imported']:,} points, {counts['errors']} refused rows in {took:.1f} s "
        f"= {counts['members_imported'] / took:,.0f} members a second"
    )
    print("  commands: " + ", ".join(f"{k} {v}" for k, v in sorted(listener.counts.items())))
    assert {k: counts[k] for k in expected} == expected, (counts, expected)
    floor = await bare_insert(url, mongo)
    print(
        f"bare bulk insert of the same documents and indexes: {floor:.1f} s; "
        f"ratio floor / import {floor / took:.2f} (goal ≥ 0.7)"
    )
    start = time.perf_counter()
    again = (await import_files(mongo, clock, members_csv, balances_csv, actor="bench")).counts()
    print(
        f"rerun: {again['members_imported']} imported, "
        f"{again['members_unchanged']:,} unchanged in {time.perf_counter() - start:.1f} s"
    )
    assert again["members_imported"] == again["balances_imported"] == 0, again
    assert again["members_unchanged"] == expected["members_imported"], again
    start = time.perf_counter()
    drifts = await verify_balances(mongo)
    print(f"verify_balances: {len(drifts)} drifts in {time.perf_counter() - start:.1f} s")
    assert not drifts, drifts
    await mongo.close()


async def bare_insert(url: str, imported: Mongo) -> float:
    """Seconds to insert the documents the import wrote, as they are, into an empty database with
    the same indexes: the floor of any import of them."""
    documents = {name: await imported[name].find().to_list(None) for name in WRITTEN}
    bare = connect(url, "bench_import_bare", connectTimeoutMS=300_000)
    await ensure_indexes(bare)
    start = time.perf_counter()
    for name in WRITTEN:
        if documents[name]:
            await bare[name].insert_many(documents[name], ordered=False)
    took = time.perf_counter() - start
    print("  bare: " + ", ".join(f"{len(documents[name]):,} {name}" for name in WRITTEN))
    await bare.client.drop_database("bench_import_bare")
    await bare.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--lots", type=int, default=2, help="opening lots per member")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_files(folder, args.members, args.lots, datetime.now(UTC))
        server = EmbeddedMongo(folder / "db", sync_on_commit=not args.smoke)
        url = server.start()
        try:
            asyncio.run(bench(url, *files))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
