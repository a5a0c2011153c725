"""Webhooks benchmark: what the event log costs a ledger write, and events per second through the
worker to an endpoint.

    .venv/bin/python bench/notifications.py [--writes 400] [--events 2000] [--members 20] [--smoke]

On the embedded database (a SecantusDB process of its own, in a temporary folder):

1. The ledger write with its event against the same write without it (app.event_log.recording
   off), on the same database, interleaved in rounds: an earn (the express path) and a spend
   (through the book). It prints the ratio of writes per second (goal >= 0.9x) and the commands
   of each (with = without + 1: the one insert of the unit's events).
2. Events delivered per second: `--events` earns across `--members` members, then the worker's
   webhook passes (fan-out, delivery) to a local receiver over HTTP that verifies every
   signature with `standardwebhooks`, until every event arrived; it checks each member's events
   arrived in order, once each.

Times depend on the machine and its load: watch the ratio and the command counts. A wrong count,
a bad signature, a lost or misordered event ends it with a non-zero status. `--smoke` runs tiny
sizes in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any

import httpx
from pymongo import monitoring
from standardwebhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import SystemClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.event_log import recording
from app.ledger import earn, spend
from app.webhooks import DeliveryPolicy, add_endpoint, deliver_due, fan_out

SMOKE = {"writes": 40, "events": 60, "members": 4, "rounds": 2}
CLOCK = SystemClock()


class Commands(monitoring.CommandListener):
    IGNORED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions"})

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.IGNORED:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> int:
        taken, self.count = self.count, 0
        return taken


async def write_cost(url: str, writes: int, members: int, rounds: int) -> bool:
    """The ledger's earn and spend with and without their event; True when the counts hold."""
    commands = Commands()
    mongo: Mongo = connect(url, "bench_events_cost", event_listeners=[commands])
    await ensure_indexes(mongo)
    keys = count()

    async def one_earn(member: int) -> None:
        await earn(
            mongo, CLOCK, member_id=f"c{member}", points=10, idempotency_key=f"e{next(keys)}"
        )

    async def one_spend(member: int) -> None:
        await spend(
            mongo, CLOCK, member_id=f"c{member}", points=1, idempotency_key=f"s{next(keys)}"
        )

    for member in range(members):  # accounts exist, with points to spend
        await one_earn(member)
        await one_earn(member)
    ok = True
    per_round = max(1, writes // rounds)
    for name, call in (("earn", one_earn), ("spend", one_spend)):
        spent = {True: 0.0, False: 0.0}
        used = {True: 0, False: 0}
        for r in range(rounds):
            for on in (True, False) if r % 2 else (False, True):
                token = recording.set(on)
                try:
                    commands.take()
                    started = time.perf_counter()
                    for n in range(per_round):
                        await call(n % members)
                    spent[on] += time.perf_counter() - started
                    used[on] += commands.take()
                finally:
                    recording.reset(token)
        done = per_round * rounds
        with_, without = used[True] / done, used[False] / done
        ratio = spent[False] / spent[True]
        print(
            f"{name}: with its event {done / spent[True]:.1f}/s, {with_:.2f} commands; "
            f"without {done / spent[False]:.1f}/s, {without:.2f} commands; "
            f"with / without: {ratio:.2f}x (goal >= 0.9)"
        )
        if abs(with_ - without - 1) > 0.1:  # (a rare rerun of a transaction adds a fraction)
            print(f"FAILED: {name} with its event should cost one insert more", file=sys.stderr)
            ok = False
    logged = await mongo["events"].count_documents({})
    # recorded: the set-up's earns, and the runs with the event of both kinds
    expected_events = members * 2 + 2 * per_round * rounds
    if logged != expected_events:
        print(f"FAILED: {logged} events logged, {expected_events} expected", file=sys.stderr)
        ok = False
    await mongo.close()
    return ok


class Receiver:
    """An endpoint on this machine: verifies each request, keeps what arrived."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: list[tuple[str, dict[str, Any]]] = []
        self.bad = 0
        self.lock = threading.Lock()

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = Webhook(receiver.secret).verify(raw, headers)
                    status = 204
                    with receiver.lock:
                        receiver.arrived.append((headers["webhook-id"], body))
                except Exception:
                    with receiver.lock:
                        receiver.bad += 1
                    status = 400
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


async def throughput(url: str, events: int, members: int) -> bool:
    """Events per second from the log to the endpoint through the worker's passes."""
    mongo: Mongo = connect(url, "bench_events_delivery")
    await ensure_indexes(mongo)
    receiver = Receiver()
    server = receiver.serve()
    try:
        new = await add_endpoint(
            mongo,
            CLOCK,
            url=f"http://127.0.0.1:{server.server_address[1]}/hooks",
            event_types=["points.earned"],
            actor="bench",
            allow_local_http=True,
        )
        receiver.secret = new.secret
        each = events // members

        async def member_earns(member: int) -> None:
            for i in range(each):
                await earn(
                    mongo,
                    CLOCK,
                    member_id=f"d{member}",
                    points=i + 1,
                    idempotency_key=f"d{member}:{i}",
                )

        await asyncio.gather(*(member_earns(m) for m in range(members)))
        total = each * members
        policy = DeliveryPolicy()
        started = time.perf_counter()
        deadline = time.monotonic() + max(60.0, total / 5)
        async with httpx.AsyncClient() as client:
            while len(receiver.arrived) < total and time.monotonic() < deadline:
                fanned, _ = await fan_out(mongo, CLOCK, policy)
                sent = await deliver_due(mongo, CLOCK, client, policy)
                if not fanned and not sent:
                    await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        print(
            f"delivered {len(receiver.arrived)} of {total} events in {seconds:.2f} s: "
            f"{len(receiver.arrived) / seconds:.1f} events/s ({members} members, one endpoint)"
        )
        by_member: dict[str, list[int]] = defaultdict(list)
        for _, body in receiver.arrived:
            by_member[body["member_id"]].append(body["data"]["seq"])
        in_order = all(seqs == list(range(1, each + 1)) for seqs in by_member.values())
        ok = receiver.bad == 0 and len(receiver.arrived) == total and in_order
        if not ok:
            print(f"FAILED: bad signatures {receiver.bad}, in order {in_order}", file=sys.stderr)
        return ok
    finally:
        server.shutdown()
        server.server_close()
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=400, help="ledger writes per kind")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not args.smoke)
        url = server.start()
        try:
            ok = asyncio.run(write_cost(url, args.writes, args.members, args.rounds))
            ok = asyncio.run(throughput(url, args.events, args.members)) and ok
        finally:
            server.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
