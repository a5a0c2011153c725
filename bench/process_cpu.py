"""API process CPU per operation: how many operations one core serves, for sizing a deployment.

    .venv/bin/python bench/process_cpu.py [--calls 300] [--concurrency 4] [--smoke]

Starts an embedded SecantusDB and one API process (uvicorn, app.main, as `jifen serve` runs it
with a MongoDB URL: no worker), seeds a program, a partner, a reward and members with points, then
sends `--calls` of each operation over HTTP, `--concurrency` at a time, and reads the API
process's CPU time from /proc/<pid>/stat before and after: its CPU per operation, and so the
operations one core of API process serves per second (the database's CPU is not counted: it
runs elsewhere in production). docs/operations.md ("Production shape") sizes a deployment with
these figures. Every answer is checked; a wrong one ends it with a non-zero status. On a machine
other work keeps busy the figures grow: say the load when quoting them. `--smoke`: a few calls.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.auth import PrincipalKind, build_token_services, load_key_material
from app.clock import SystemClock
from app.config import Environment, Settings
from app.db import connect
from app.embedded import EmbeddedMongo, free_port
from app.ledger import verify_balances
from app.rewards import Reward
from bench.api import cpu_seconds, start_server, wait_ready
from bench.partner import PURCHASE, order, seed
from graphql_schema.ids import to_global_id

BALANCE = "{ me { balance { available } } }"
HISTORY = "{ me { history(first: 20) { edges { node { kind points } } } } }"
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id } userErrors { code } } }"""
PRICE = 10
Body = dict[str, Any]


async def measure(
    api: str, pid: int, calls: int, concurrency: int, request: Callable[[int], tuple[str, Body]]
) -> float:
    """The API process's CPU milliseconds per call of `request(n)` -> (token, body)."""
    numbers = iter(range(calls))
    failures: list[str] = []

    async def client(http: httpx.AsyncClient) -> None:
        for n in numbers:
            token, body = request(n)
            reply = await http.post(api, json=body, headers={"authorization": f"Bearer {token}"})
            answer = reply.json()
            if "errors" in answer or any(
                isinstance(field, dict) and field.get("userErrors")
                for field in answer["data"].values()
            ):
                failures.append(reply.text)

    async with httpx.AsyncClient(timeout=60) as http:
        before = cpu_seconds(pid)
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        used = cpu_seconds(pid) - before
    assert not failures, failures[:3]
    return used / calls * 1000


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
            till, _, members = await seed(settings, args.members, 1)
            mongo = connect(mongo_url, "bench")
            reward = Reward(id="r_cpu", name="Cup", points_price=PRICE)
            await mongo["rewards"].insert_one(reward.model_dump(by_alias=True))
            issuer, _ = build_token_services(settings, load_key_material(settings), SystemClock())
            assert issuer is not None
            tokens = [issuer.mint(PrincipalKind.MEMBER, m, ttl=timedelta(hours=1)) for m in members]
            port = free_port()
            env = {
                **os.environ,
                "JIFEN_MONGODB_URL": mongo_url,
                "JIFEN_DB_NAME": "bench",
                "JIFEN_DATA_DIR": str(data_dir),
                "JIFEN_ENV": "test",
                "JIFEN_LOG_LEVEL": "WARNING",
                "JIFEN_MUTATION_LIMIT_PER_MINUTE": "1000",
            }
            server = start_server("app.main:create_app", port, env)
            api = f"http://127.0.0.1:{port}/graphql"
            await wait_ready(f"http://127.0.0.1:{port}/healthz")
            reward_id = to_global_id("Reward", reward.id)
            keys = itertools.count()
            who = itertools.cycle(range(len(members)))

            def purchase(n: int) -> tuple[str, Body]:
                body = {"query": PURCHASE, "variables": {"input": order(members[n % len(members)])}}
                return till, body

            def redeem(n: int) -> tuple[str, Body]:
                variables = {"input": {"rewardId": reward_id, "idempotencyKey": f"k{next(keys)}"}}
                return tokens[next(who)], {"query": REDEEM, "variables": variables}

            def read(query: str) -> Callable[[int], tuple[str, Body]]:
                return lambda n: (tokens[n % len(tokens)], {"query": query})

            operations = {
                "recordPurchase (partner, 5 lines)": purchase,
                "redeemReward (member)": redeem,
                "me.balance (member)": read(BALANCE),
                "me.history first 20 (member)": read(HISTORY),
            }
            print(
                f"API process CPU per operation ({args.calls} calls, {args.concurrency} at a "
                f"time; load average {os.getloadavg()[0]:.1f}):"
            )
            await measure(api, server.pid, 5, 1, read(BALANCE))  # warm: imports, caches
            for name, request in operations.items():
                ms = await measure(api, server.pid, args.calls, args.concurrency, request)
                per_core = f"{1000 / ms:7.0f} /s per core" if ms else "under a clock tick"
                print(f"  {name:<36} {ms:6.2f} ms   {per_core}")
            drifts = await verify_balances(mongo)
            print(f"verify_balances: {len(drifts)} drifts")
            await mongo.close()
            if drifts:
                raise SystemExit(1)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
            database.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="of each operation")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    arguments = parser.parse_args()
    if arguments.smoke:
        vars(arguments).update(calls=10, concurrency=2, members=3)
    asyncio.run(main(arguments))
