"""Issuing expiry warnings with their `points.expiring` events, against issuing them without.

Each warning is inserted with its event in one transaction a batch (app/notifications/warnings.py):
this prints the time to issue N warnings with the events and without (the event log's `recording`
switched off, as bench/notifications.py does for the ledger), the ratio, the time of a rerun that
finds every warning issued already (each worker pass does it), and the commands of each.

    .venv/bin/python bench/warnings.py [--warnings 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # app.* when run by path

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.event_log import recording
from app.ledger import Rolling, earn
from app.notifications import issue_expiry_warnings


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.command_name] = self.counts.get(event.command_name, 0) + 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = Commands()
monitoring.register(COMMANDS)


async def issue(mongo: Mongo, clock: FrozenClock, members: int, events: bool) -> tuple[float, str]:
    token = recording.set(events)
    try:
        COMMANDS.counts.clear()
        started = time.perf_counter()
        issued = await issue_expiry_warnings(mongo, clock)
        took = time.perf_counter() - started
    finally:
        recording.reset(token)
    assert issued in (members, 0), issued
    counts = ", ".join(f"{name} {n}" for name, n in sorted(COMMANDS.counts.items()))
    return took, counts


async def main(members: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedMongo(Path(folder) / "db", sync_on_commit=True)
        url = server.start()
        try:
            clock = FrozenClock(datetime(2026, 1, 15, 9, tzinfo=UTC))
            timings: dict[bool, float] = {}
            for events in (False, True):
                mongo = connect(url, f"warnings_{int(events)}")
                await ensure_indexes(mongo)
                for i in range(members):
                    await earn(
                        mongo,
                        clock,
                        member_id=f"m{i}",
                        points=100,
                        idempotency_key=f"e{i}",
                        policy=Rolling(days=5),
                    )
                took, counts = await issue(mongo, clock, members, events)
                timings[events] = took
                rerun, rerun_counts = await issue(mongo, clock, members, events)
                label = "with events   " if events else "without events"
                print(f"{label}: {members} warnings in {took:.2f} s ({counts})")
                print(f"{' ' * 14}  rerun, all issued: {rerun:.2f} s ({rerun_counts})")
                await mongo.close()
            print(f"issuing with events / without: {timings[True] / timings[False]:.2f}x the time")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warnings", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="200 warnings (CI)")
    args = parser.parse_args()
    asyncio.run(main(200 if args.smoke else args.warnings))
