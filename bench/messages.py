"""Members' messages benchmark: notifications routed and messages sent per second by the worker.

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder):

    .venv/bin/python bench/messages.py [--members 2000] [--smoke]

Seeds `--members` members (half with a push device and consent, half with a phone only) and one
expiry warning each, as the warn job writes them; then times the worker's two steps of
app/messaging: routing every notification (`route_new`: the route walked, the text rendered, one
record per channel considered) and sending every due message, first a run to the dev inbox, then
a run where push goes over HTTP to a local gateway (a thread answering 202). It prints each
step's rate, database commands per notification or message, and CPU (this process and the
database's), and checks that each member got exactly one message sent and one e-mail suppressed
(no address); a failed check ends it with a non-zero status. `--smoke` runs tiny sizes (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from bson import ObjectId

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.messaging import Links, PushGateway, Transports, deliver_due, route_new
from app.notifications import GatewayResponse
from bench.api import cpu_seconds
from bench.ledger import Commands

SMOKE = {"members": 20}
BATCH = 100  # the worker job's pass


def _cpu(server_pid: int) -> float:
    return cpu_seconds(server_pid) + time.process_time()


async def seed(mongo: Mongo, clock: FrozenClock, members: int) -> None:
    now = clock.now()
    people = []
    warnings = []
    for n in range(members):
        member_id = f"m{n:07d}"
        document: dict[str, object] = {
            "_id": member_id,
            "member_no": f"JF{n:08d}",
            "name": f"会员{n}",
            "tier": "member",
            "status": "active",
            "joined_at": now,
        }
        if n % 2 == 0:
            document["consents"] = {"notifications": True}
            document["push_tokens"] = [
                {"platform": "ios", "token": f"apns-{n:012d}", "added_at": now}
            ]
        else:
            document["phone"] = f"+86139{n:08d}"
        people.append(document)
        expires_at = now + timedelta(days=3)
        warnings.append(
            {
                "_id": ObjectId(),
                "kind": "expiry_warning",
                "member_id": member_id,
                "points": 100 + n % 50,
                "expires_at": expires_at,
                "days_left": 3,
                "lead_days": 7,
                "dedupe_key": f"expiry_warning:{member_id}:{expires_at.isoformat()}:7",
                "created_at": now,
                "read_at": None,
            }
        )
    for start in range(0, members, 1000):
        await mongo["members"].insert_many(people[start : start + 1000])
        await mongo["notifications"].insert_many(warnings[start : start + 1000])


class Gateway:
    """A brand's push gateway stand-in: answers 202 to every POST, counts them."""

    def __init__(self) -> None:
        self.count = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["content-length"]))
                gateway.count += 1
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/push"


async def timed(name: str, count: int, server_pid: int, commands: Commands, run) -> None:  # type: ignore[no-untyped-def]
    commands.take()
    cpu, start = _cpu(server_pid), time.perf_counter()
    await run()
    wall, used = time.perf_counter() - start, _cpu(server_pid) - cpu
    per = commands.take() / max(count, 1)
    print(
        f"{name:<28} {count:>7} in {wall:7.2f} s  {count / wall:9.0f}/s  "
        f"{per:5.1f} commands each  cpu {used:6.2f} s"
    )


async def until_done(step) -> None:  # type: ignore[no-untyped-def]
    while await step():
        pass


async def bench(url: str, server_pid: int, members: int) -> int:
    commands = Commands()
    clock = FrozenClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))  # no program: UTC, not quiet
    links = Links(b"bench-unsubscribe-key-of-32-bytes", "http://127.0.0.1:8000")
    failures = 0
    for run in ("dev-inbox", "push-gateway"):
        mongo = connect(url, f"bench_messages_{run.replace('-', '_')}", event_listeners=[commands])
        await ensure_indexes(mongo)
        await seed(mongo, clock, members)
        gateway = Gateway()
        thread = threading.Thread(target=gateway.httpd.serve_forever, daemon=True)
        thread.start()
        async with httpx.AsyncClient(timeout=10) as client:

            async def post(target: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
                response = await client.post(target, content=body, headers=headers)
                return GatewayResponse(response.status_code, response.text)

            transports = (
                Transports()
                if run == "dev-inbox"
                else Transports(push=PushGateway(gateway.url, b"bench-gateway-secret", post))
            )
            print(f"-- {run}: {members} members, one expiry warning each")
            await timed(
                "route (notifications)",
                members,
                server_pid,
                commands,
                lambda mongo=mongo: until_done(lambda: route_new(mongo, clock, links, limit=BATCH)),
            )
            await timed(
                "send (messages)",
                members,
                server_pid,
                commands,
                lambda mongo=mongo, transports=transports: until_done(
                    lambda: deliver_due(mongo, clock, transports, limit=BATCH)
                ),
            )
        gateway.httpd.shutdown()
        sent = await mongo["messages"].count_documents({"status": "sent"})
        suppressed = await mongo["messages"].count_documents(
            {"status": "suppressed", "channel": "email", "reason": "no_address"}
        )
        pushed = gateway.count if run == "push-gateway" else members // 2 + members % 2
        if sent != members or suppressed != members or pushed != members // 2 + members % 2:
            print(f"FAILED: {sent} sent, {suppressed} e-mails suppressed, {pushed} pushed")
            failures += 1
        await mongo.close()
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not args.smoke)
        url = server.start()
        try:
            assert server.process is not None
            failures = asyncio.run(bench(url, server.process.pid, args.members))
        finally:
            server.stop()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
