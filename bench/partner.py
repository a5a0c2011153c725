"""Partner API benchmark: recordPurchase throughput over real HTTP, and database commands per call.

    .venv/bin/python bench/partner.py [--seconds 5] [--concurrency 8] [--members 40] [--lots 1000]
                                      [--smoke]

Starts an embedded SecantusDB and the Jifen app in a uvicorn process of its own; this process is
the till. It seeds a program (1 point per CNY, no budgets, caps or birthday bonus), a partner,
one member with `--lots` (1,000) live lots and `--members` members with 20 lots each, then prints:

1. recordPurchase throughput: `--concurrency` tills posting 5-line orders for the members in turn
   (one member's purchases serialise on their account, so the tills rotate members), and one
   till posting for the 1,000-lot member alone;
2. database commands per call for a 5-line order of the 1,000-lot member, from the server's
   serverStatus opcounters (target, issue 22: at most 6 with the commit and the registry read;
   the getMores of the API process's change stream, which SecantusDB wakes at every commit, are
   left out), and the same counted by name with a command monitor on an in-process copy of the
   app;
3. previewEarn's commands, and that none of them writes;
4. the floor: `--floor` purchases of the 1,000-lot member over HTTP, one at a time, against as
   many bare transactions sending the same commands from this process (the member read with the
   partner's entry, the account updated with copies of what the purchase wrote, the lot, the
   entry and the order inserted, the commit, on the same indexes in a database of their own),
   interleaved in rounds; it prints their ratio by wall time and by CPU (the database's and the
   API process's for a purchase, the database's and this process's for a bare one).

Every purchase must be accepted with its points, none of previewEarn's commands may write, and every
balance must match the ledger after; a failed check ends it with a non-zero status. `--smoke` runs
tiny sizes in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.auth import PrincipalKind, build_token_services, load_key_material
from app.clock import SystemClock
from app.config import Environment, Settings
from app.db import connect, ensure_indexes
from app.embedded import EmbeddedMongo, free_port
from app.ledger import OpeningEarn, open_books, verify_balances
from app.members import create_member
from app.partners import register_partner
from app.program import Program, Tier, save_program
from bench.api import cpu_seconds, start_server, wait_ready
from graphql_schema.ids import to_global_id

PURCHASE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { purchase { total } userErrors { code } } }"""
PREVIEW = """query($input: RecordPurchaseInput!) { previewEarn(input: $input) { total } }"""
WRITES = {"insert", "update", "delete", "findAndModify", "commitTransaction"}
ORDERS = itertools.count()
POINTS = 10 + 20 + 30 + 40 + 50  # an order's points: its 5 lines at 1 point per whole CNY
# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run, at sizes of a few seconds.
SMOKE = {"seconds": 0.5, "concurrency": 2, "members": 3, "lots": 30, "calls": 5, "floor": 12}


class Commands(monitoring.CommandListener):
    IGNORED = frozenset({"hello", "isMaster", "ismaster", "ping", "endSessions", "serverStatus"})

    def __init__(self) -> None:
        self.names: list[str] = []
        self.targets: list[str] = []  # each command with its collection: "insert:ledger"
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        stream = event.command.get("collection") == "notifications" or "$changeStream" in str(
            event.command.get("pipeline", "")
        )
        if self.on and event.command_name not in self.IGNORED and not stream:
            self.names.append(event.command_name)
            target = event.command.get(event.command_name)
            self.targets.append(
                f"{event.command_name}:{target}" if isinstance(target, str) else event.command_name
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = Commands()
monitoring.register(COMMANDS)


def order(member_id: str) -> dict[str, Any]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "member": {"id": to_global_id("Member", member_id)},
        "orderId": f"bench-{next(ORDERS)}",
        "occurredAt": now.isoformat(),
        "channel": "store",
        "lines": [
            {
                "lineId": f"L{n}",
                "sku": f"SKU{n}",
                "category": "food",
                "quantity": 1,
                "amount": f"{10 * n}.50",
            }
            for n in range(1, 6)
        ],
    }


def accepted(reply: dict[str, Any], mutation: str = "recordPurchase") -> bool:
    """The purchase was recorded (or previewed) with its points."""
    if "errors" in reply:
        return False
    answer = reply["data"][mutation]
    if mutation == "previewEarn":
        return bool(answer["total"] == POINTS)
    return not answer["userErrors"] and answer["purchase"]["total"] == POINTS


async def seed(settings: Settings, members: int, lots: int) -> tuple[str, str, list[str]]:
    """The partner's token, the member with `lots` lots and the other members."""
    assert settings.mongodb_url is not None
    mongo = connect(settings.mongodb_url, settings.db_name)
    await ensure_indexes(mongo)
    clock = SystemClock()
    tiers = (Tier(code="member", name="Member", threshold=0),)
    await save_program(mongo, clock, Program(name="Bench", currency="pts", tiers=tiers))
    partner = await register_partner(
        mongo, clock, name="Bench till", scopes=["points:earn"], actor="bench"
    )
    issuer, _ = build_token_services(settings, load_key_material(settings), clock)
    assert issuer is not None
    token = issuer.mint(
        PrincipalKind.PARTNER, partner.id, scopes=["points:earn"], ttl=timedelta(hours=1)
    )
    now = clock.now()
    big = (await create_member(mongo, clock, name="Many lots", tier="member")).id
    books = {big: [OpeningEarn(10, now)] * lots}
    others = []
    for n in range(members):
        others.append((await create_member(mongo, clock, name=f"M{n}", tier="member")).id)
        books[others[-1]] = [OpeningEarn(10, now)] * 20
    await open_books(mongo, books, now)
    await mongo.close()
    return token, big, others


async def throughput(
    api: str, token: str, members: list[str], seconds: float, concurrency: int
) -> tuple[float, int]:
    headers = {"authorization": f"Bearer {token}"}
    queue = itertools.cycle(members)
    done = failed = 0

    async def till(http: httpx.AsyncClient, until: float) -> None:
        nonlocal done, failed
        while time.perf_counter() < until:
            body = {"query": PURCHASE, "variables": {"input": order(next(queue))}}
            ok = accepted((await http.post(api, json=body, headers=headers)).json())
            done += ok
            failed += not ok

    async with httpx.AsyncClient(timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(till(http, started + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return done / elapsed, failed


async def opcounters_per_call(
    mongo_url: str, api: str, token: str, member: str, calls: int
) -> tuple[float, dict[str, float]]:
    """The server's opcounters' growth over `calls` purchases, less an idle stretch as long."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    headers = {"authorization": f"Bearer {token}"}

    async def total() -> Counter[str]:
        status = await client.admin.command("serverStatus")
        return Counter({k: int(v) for k, v in status["opcounters"].items()})

    async with httpx.AsyncClient(timeout=60) as http:
        before = await total()
        started = time.perf_counter()
        for _ in range(calls):
            body = {"query": PURCHASE, "variables": {"input": order(member)}}
            reply = await http.post(api, json=body, headers=headers)
            assert accepted(reply.json()), reply.text
        elapsed = time.perf_counter() - started
        after = await total()
        idle = await total()
        await asyncio.sleep(elapsed)
        idle_after = await total()
    await client.close()
    busy, quiet = after - before, idle_after - idle
    busy.subtract(quiet)
    # The API process's one change stream (on notifications) answers a getMore at every commit
    # on SecantusDB: the process's background work, not the purchase's.
    busy["getmore"] = 0
    return sum(busy.values()) / calls, {k: v / calls for k, v in busy.items() if v}


async def named_commands(settings: Settings, token: str, member: str) -> None:
    """The same calls on an in-process copy of the app, with every command named."""
    from app.main import create_app

    app = create_app(settings)
    headers = {"authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for query, name in ((PURCHASE, "recordPurchase"), (PREVIEW, "previewEarn")):
                variables = {"input": order(member)}
                await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                COMMANDS.names, COMMANDS.targets, COMMANDS.on = [], [], True
                variables = {"input": order(member)}
                reply = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                COMMANDS.on = False
                assert accepted(reply.json(), name), reply.text
                writes = sum(count for n, count in Counter(COMMANDS.names).items() if n in WRITES)
                print(
                    f"{name:<15} {len(COMMANDS.names)} commands, {writes} writes: "
                    f"{' '.join(COMMANDS.targets)}"
                )
                assert name == "recordPurchase" or not writes, f"{name} wrote"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="jifen-bench-") as tmp:
        data_dir = Path(tmp)
        database = EmbeddedMongo(data_dir / "db", sync_on_commit=not args.smoke)
        mongo_url = database.start()
        server: subprocess.Popen[bytes] | None = None
        try:
            settings = Settings(
                mongodb_url=mongo_url, db_name="bench", data_dir=data_dir, env=Environment.TEST
            )
            lots, members = args.lots, args.members
            print(f"seeding a member with {lots:,} lots and {members} with 20 ...", flush=True)
            token, big, others = await seed(settings, args.members, args.lots)
            port = free_port()
            env = {
                **os.environ,
                "JIFEN_MONGODB_URL": mongo_url,
                "JIFEN_DB_NAME": "bench",
                "JIFEN_DATA_DIR": str(data_dir),
                "JIFEN_ENV": "test",
                "JIFEN_LOG_LEVEL": "WARNING",
            }
            server = start_server("app.main:create_app", port, env)
            api = f"http://127.0.0.1:{port}/graphql"
            await wait_ready(f"http://127.0.0.1:{port}/healthz")
            for tills, members, who in [
                (args.concurrency, others, f"{args.members} members"),
                (1, [big], f"the {args.lots:,}-lot member"),
            ]:
                rate, failed = await throughput(api, token, members, args.seconds, tills)
                print(f"recordPurchase, {tills} till(s), {who}: {rate:7.1f} /s ({failed} failed)")
                assert rate > 0 and not failed, f"{failed} purchases failed"
            per_call, kinds = await opcounters_per_call(mongo_url, api, token, big, args.calls)
            print(
                f"commands per recordPurchase (5 lines, {args.lots:,} live lots; server "
                f"opcounters): {per_call:.1f} (target <= 6, issue 22) {kinds}"
            )
            await named_commands(settings, token, big)
            assert database.process is not None
            pids = Pids(database.process.pid, server.pid)
            await floor(settings, api, token, big, pids, args.floor)
            await verify(settings)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
            database.stop()


@dataclass(frozen=True)
class Pids:
    database: int
    api: int


async def floor(
    settings: Settings, api: str, token: str, member: str, pids: Pids, calls: int, rounds: int = 6
) -> None:
    """recordPurchase against a bare transaction sending the same commands (see the docstring)."""
    assert settings.mongodb_url is not None
    mongo = connect(settings.mongodb_url, settings.db_name)
    bought = await mongo["orders"].find_one({"member_id": member}, sort=[("recorded_at", -1)])
    assert bought is not None
    entry_id = ObjectId(bought["entry_id"])
    entry = await mongo["ledger"].find_one({"_id": entry_id})
    lot = await mongo["lots"].find_one({"source_entry_id": entry_id})
    account = await mongo["accounts"].find_one({"_id": member})
    profile = await mongo["members"].find_one({"_id": member})
    partner = await mongo["partners"].find_one({})
    assert entry and lot and account and profile and partner
    await mongo.close()
    bare_db = connect(settings.mongodb_url, "bench_floor")
    await ensure_indexes(bare_db)
    await bare_db["members"].insert_one(profile)
    await bare_db["partners"].insert_one(partner)
    numbers = itertools.count(1)
    counters = {k: v for k, v in account.items() if k not in ("_id", "tier_progress")}
    day = next(iter(account.get("tier_progress", {}).get("buckets", {"2026-01-01": 0})))
    registry = [{"$match": {"_id": partner["_id"]}}, {"$replaceWith": {"_registry": "$$ROOT"}}]
    read = [
        {"$match": {"_id": member}},
        {"$limit": 1},
        {"$project": {"password_hash": 0}},
        {"$unionWith": {"coll": "partners", "pipeline": registry}},
    ]

    async def bare() -> None:
        n = next(numbers)
        found = await (await bare_db["members"].aggregate(read)).to_list()
        assert len(found) == 2

        async def work(session: Any) -> None:
            await bare_db["accounts"].find_one_and_update(
                {"_id": member},
                {"$set": counters, "$inc": {f"tier_progress.buckets.{day}": POINTS}},
                upsert=True,
                session=session,
            )
            lot_id, entry_id = ObjectId(), ObjectId()
            await bare_db["lots"].insert_one(
                {**lot, "_id": lot_id, "order": f"N|{n:012d}", "source_entry_id": entry_id},
                session=session,
            )
            await bare_db["ledger"].insert_one(
                {
                    **entry,
                    "_id": entry_id,
                    "seq": n,
                    "idempotency_key": f"bare:{n}",
                    "lots": [{"lot_id": lot_id, "points": POINTS}],
                },
                session=session,
            )
            await bare_db["orders"].insert_one(
                {**bought, "_id": f"bare:{n}", "entry_id": str(entry_id)}, session=session
            )

        await bare_db.transaction(work)

    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60) as http:

        async def purchase() -> None:
            body = {"query": PURCHASE, "variables": {"input": order(member)}}
            assert accepted((await http.post(api, json=body, headers=headers)).json())

        await purchase()
        await bare()
        spent = {"purchase": 0.0, "bare": 0.0}
        cpu = {"purchase": 0.0, "bare": 0.0}
        per_round = max(1, calls // rounds)
        calls_of = [("purchase", purchase, pids.api), ("bare", bare, None)]
        for r in range(rounds):
            for name, call, pid in calls_of if r % 2 else calls_of[::-1]:
                started = time.perf_counter()
                used = cpu_seconds(pids.database)
                used += cpu_seconds(pid) if pid else time.process_time()
                for _ in range(per_round):
                    await call()
                spent[name] += time.perf_counter() - started
                now = cpu_seconds(pids.database)
                now += cpu_seconds(pid) if pid else time.process_time()
                cpu[name] += now - used
    await bare_db.close()
    done = per_round * rounds
    rates = {name: done / seconds for name, seconds in spent.items()}
    print(
        f"floor, one at a time: recordPurchase {rates['purchase']:.1f}/s, "
        f"{cpu['purchase'] / done * 1000:.2f} ms CPU; bare transaction {rates['bare']:.1f}/s, "
        f"{cpu['bare'] / done * 1000:.2f} ms CPU"
    )
    print(
        f"recordPurchase / bare transaction: {rates['purchase'] / rates['bare']:.2f}x by wall "
        f"time, {cpu['bare'] / cpu['purchase']:.2f}x by CPU"
    )


async def verify(settings: Settings) -> None:
    assert settings.mongodb_url is not None
    mongo = connect(settings.mongodb_url, settings.db_name)
    drifts = await verify_balances(mongo)
    await mongo.close()
    print(f"verify_balances: {len(drifts)} drifts")
    assert not drifts, drifts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--lots", type=int, default=1000, help="live lots of the one member")
    parser.add_argument(
        "--calls", type=int, default=20, help="purchases whose commands are counted"
    )
    parser.add_argument(
        "--floor", type=int, default=120, help="purchases against the bare transaction"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    arguments = parser.parse_args()
    if arguments.smoke:
        vars(arguments).update(SMOKE)
    asyncio.run(main(arguments))
