"""Benchmark of the member API over real HTTP: throughput, latency and database commands per operation.

    .venv/bin/python bench/api.py [--seconds 5] [--concurrency 16] [--cpu-rounds 6] [--smoke]

Starts an embedded SecantusDB, seeds a program, members with points and a catalog, then runs
two uvicorn processes on free ports against that database: the Jifen app, and a hand-written
Starlette endpoint that verifies the same JWT and reads the same account document. A concurrent
httpx client drives each operation and prints requests/s and p50/p99 latency, and the database
commands each operation costs, from the server's serverStatus opcounters (targets: balance 1,
history page 2: the account's last sequence number, then the range). Then it times a first
history page for a member with 10 entries and one with 10,000, one client at a time (target:
within 2x).

The balance comparison is the SERVER's CPU time per request, read from /proc/<pid>/stat of each
uvicorn process before and after each round, rounds of the two paths interleaved: the client's own
CPU (httpx spends more per request than either server) stays out of it, and any drift of the
machine falls on both paths alike. Each balance request carries a token of the next member in
turn, as real traffic does (many members, each a token of its own), from more distinct tokens
than the verifier caches: both servers verify every token's signature, where one token sent again
and again would come from the verifier's cache.
Target: hand-written CPU / GraphQL CPU >= 0.85; the same with one cached token is printed beside
it. On a machine other work keeps busy every figure grows (shared caches, frequency); compare
ratios of one run.

Every answer is checked (no error, no userError, a balance, a full history page, a redemption of
the reward's price); a wrong answer ends the run with a non-zero status. `--smoke` runs tiny sizes
in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import (
    VERIFIED_CACHE_SIZE,
    InvalidToken,
    PrincipalKind,
    TokenIssuer,
    build_token_services,
    load_key_material,
)
from app.clock import SystemClock
from app.config import Environment, Settings, load_settings
from app.db import connect, ensure_indexes
from app.embedded import EmbeddedMongo, free_port
from app.ledger import OpeningEarn, get_balance, open_books
from app.members import create_member
from app.program import Program, Tier, save_program
from app.rewards import Reward
from graphql_schema.context import bearer_token
from graphql_schema.ids import to_global_id

ROOT = Path(__file__).resolve().parent.parent
BALANCE = "{ me { balance { available pending held nextExpiry { points expiresAt } } } }"
HISTORY = "{ me { history(first: 20) { edges { cursor node { id kind points occurredAt } } } } }"
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id points } userErrors { code } } }"""
PAGE = 20  # entries on a history page (HISTORY)
# What `--smoke` runs, on a database that skips the sync on commit: every operation and figure of
# the full run, at sizes of a few seconds.
SMOKE = {
    "seconds": 0.3,
    "concurrency": 2,
    "cpu_rounds": 1,
    "members": 4,
    "entries": PAGE + 1,
    "history_sizes": "10,100",
    "warm_up": 0.1,
    "calls": 3,
    "distinct_tokens": 50,
}


# The hand-written baseline: the same token check and the same one-document read, as plain JSON.
def baseline_app() -> Starlette:
    settings = load_settings()
    assert settings.mongodb_url is not None
    mongo = connect(settings.mongodb_url, settings.db_name)
    _, verifier = build_token_services(settings, load_key_material(settings), SystemClock())

    async def balance(request: Request) -> JSONResponse:
        token = bearer_token(request.headers.get("authorization"))
        try:
            principal = await verifier.verify(token or "")
        except InvalidToken:
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        if principal.member_id is None:
            return JSONResponse({"error": "forbidden"}, status_code=403)
        found = await get_balance(mongo, principal.member_id, SystemClock().now())
        nxt = found.next_expiry
        return JSONResponse(
            {
                "available": found.available,
                "pending": found.pending,
                "held": found.held,
                "nextExpiry": {"points": nxt.points, "expiresAt": nxt.expires_at.isoformat()}
                if nxt
                else None,
            }
        )

    return Starlette(routes=[Route("/balance", balance)])


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    failures: int
    warm_requests: int = 0

    def line(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        return (
            f"{self.name:<32} {self.requests / self.seconds:>8.0f} req/s   p50 {p50:6.1f} ms"
            f"   p99 {p99:6.1f} ms   ({self.requests} requests, {self.failures} failed)"
        )

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def data(response: httpx.Response) -> Any:
    """A GraphQL answer's data, or None when the request failed or answered errors."""
    if response.status_code != 200:
        return None
    body = response.json()
    return None if body.get("errors") else body["data"]


async def seed(settings: Settings, members: int, entries: int) -> list[str]:
    """Program, members with points and a catalog; returns the members' ids. The first four members
    have `entries` earns each, the others one, made by the ledger's own rules and written in bulk."""
    assert settings.mongodb_url is not None
    mongo = connect(settings.mongodb_url, settings.db_name)
    await ensure_indexes(mongo)
    clock = SystemClock()
    tiers = (Tier(code="member", name="Member", threshold=0),)
    await save_program(mongo, clock, Program(name="Bench", currency="pts", tiers=tiers))
    reward = Reward(id="r_bench", name="Bench coupon", points_price=1)
    await mongo["rewards"].insert_one(reward.model_dump(by_alias=True, mode="python"))
    now = clock.now()
    books = {}
    for n in range(members):
        member = await create_member(mongo, clock, name=f"Bench {n}", tier="member")
        books[member.id] = [OpeningEarn(1000, now)] * (entries if n < 4 else 1)
    await open_books(mongo, books, now)
    await mongo.close()
    return list(books)


async def seed_history(settings: Settings, issuer: TokenIssuer, sizes: list[int]) -> dict[int, str]:
    """A member per size in `sizes` with that many earns (10 points each, every lot live), made
    by the ledger's own rules and written in bulk; returns a token per size."""
    assert settings.mongodb_url is not None
    mongo = connect(settings.mongodb_url, settings.db_name)
    clock = SystemClock()
    now = clock.now()
    tokens = {}
    for size in sizes:
        member = await create_member(mongo, clock, name=f"History {size}", tier="member")
        await open_books(mongo, {member.id: [OpeningEarn(10, now)] * size}, now)
        tokens[size] = issuer.mint(PrincipalKind.MEMBER, member.id, ttl=timedelta(hours=1))
    await mongo.close()
    return tokens


def start_server(
    target: str, port: int, env: dict[str, str], options: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """uvicorn serving `target`'s app factory on `port`, with uvicorn's `options` besides."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        *options,
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env)


async def wait_ready(url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


Call = Callable[[httpx.AsyncClient], Awaitable[bool]]  # one request: whether its answer was right


def fresh_tokens(
    issuer: TokenIssuer, members: list[str], count: int
) -> Callable[[], dict[str, str]]:
    """Headers with a token of the next member in turn, from `count` distinct tokens minted up
    front (minting while measuring would slow the client, and so the servers' batching): as real
    traffic, where each request is some member's, every request pays the token's verification.
    Sent in a cycle longer than the verifier's cache (VERIFIED_CACHE_SIZE), a token has always
    left the cache, least recently used first, before it comes round again."""
    rotation = itertools.cycle(members)
    tokens = [
        issuer.mint(PrincipalKind.MEMBER, next(rotation), ttl=timedelta(hours=1))
        for _ in range(count)
    ]
    return itertools.cycle([{"authorization": f"Bearer {token}"} for token in tokens]).__next__


def balance_calls(api: str, base: str, headers: Callable[[], dict[str, str]]) -> tuple[Call, Call]:
    """The hand-written balance and GraphQL's `me.balance`, each request with `headers()`."""

    async def baseline(http: httpx.AsyncClient) -> bool:
        response = await http.get(base, headers=headers())
        return response.status_code == 200 and response.json()["available"] > 0

    async def balance(http: httpx.AsyncClient) -> bool:
        found = data(await http.post(api, json={"query": BALANCE}, headers=headers()))
        return found is not None and found["me"]["balance"]["available"] > 0

    return baseline, balance


def operations(
    api: str, base: str, tokens: list[str], fresh: Callable[[], dict[str, str]]
) -> dict[str, Call]:
    """The operations measured, by name: balances with a new member's token each (`fresh`), the
    first member reads its history, redemptions rotate the members (mutations are rate limited per
    member, 60 a minute)."""
    reader = {"authorization": f"Bearer {tokens[0]}"}
    rotation = itertools.cycle(tokens)
    keys_used = itertools.count()
    reward_id = to_global_id("Reward", "r_bench")
    baseline, balance = balance_calls(api, base, fresh)

    async def history(http: httpx.AsyncClient) -> bool:
        found = data(await http.post(api, json={"query": HISTORY}, headers=reader))
        return found is not None and len(found["me"]["history"]["edges"]) == PAGE

    async def redeem(http: httpx.AsyncClient) -> bool:
        variables = {"input": {"rewardId": reward_id, "idempotencyKey": f"b{next(keys_used)}"}}
        headers = {"authorization": f"Bearer {next(rotation)}"}
        body = {"query": REDEEM, "variables": variables}
        found = data(await http.post(api, json=body, headers=headers))
        if found is None or found["redeemReward"]["userErrors"]:
            return False
        return bool(found["redeemReward"]["redemption"]["points"] == 1)

    return {
        "hand-written balance (JSON)": baseline,
        "GraphQL me.balance": balance,
        "GraphQL history page of 20": history,
        "GraphQL redeemReward": redeem,
    }


async def drive(
    name: str, call: Call, *, seconds: float, concurrency: int, warm_up: float = 1.0
) -> Result:
    """`concurrency` workers call back to back for `warm_up` seconds, then for `seconds`."""
    latencies: list[float] = []
    failures = 0
    warm_requests = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def worker(until: float, record: bool) -> None:
            nonlocal failures, warm_requests
            while time.perf_counter() < until:
                started = time.perf_counter()
                ok = await call(http)
                took = time.perf_counter() - started
                failures += not ok
                if record:
                    latencies.append(took)
                else:
                    warm_requests += 1

        warm = time.perf_counter() + warm_up
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(until, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    result = Result(name, len(latencies), elapsed, latencies, failures, warm_requests)
    assert latencies and not failures, f"{name}: {failures} wrong answers of {result.requests}"
    return result


def cpu_seconds(pid: int) -> float:
    """User plus system CPU the process has used so far (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces; skip past it
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuTally:
    name: str
    pid: int
    requests: int = 0
    cpu: float = 0.0

    @property
    def per_request_ms(self) -> float:
        return self.cpu / max(1, self.requests) * 1000


async def server_cpu(
    paths: list[tuple[CpuTally, Call]], *, rounds: int, seconds: float, concurrency: int
) -> None:
    """Each round drives every path in turn for `seconds`, adding the server's CPU to its tally.

    Interleaving spreads any drift of the machine (other load, CPU frequency) over both paths.
    """
    for _ in range(rounds):
        for tally, call in paths:
            before = cpu_seconds(tally.pid)
            result = await drive(
                tally.name, call, seconds=seconds, concurrency=concurrency, warm_up=0.0
            )
            tally.cpu += cpu_seconds(tally.pid) - before
            tally.requests += result.requests + result.warm_requests


async def commands_per_call(url: str, call: Call, calls: int = 20) -> float:
    """Database commands one call costs: the opcounters' growth over `calls` sequential calls,
    less what the server does meanwhile on its own (the API's change stream, heartbeats), measured
    over an idle stretch of the same length."""
    from pymongo import AsyncMongoClient

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)

    async def total() -> int:
        status = await mongo.admin.command("serverStatus")
        return sum(int(v) for v in status["opcounters"].values())

    async with httpx.AsyncClient(timeout=30) as http:
        assert await call(http), "a wrong answer"
        before = await total()
        started = time.perf_counter()
        for _ in range(calls):
            assert await call(http), "a wrong answer"
        elapsed = time.perf_counter() - started
        after = await total()
        idle_before = await total()
        await asyncio.sleep(elapsed)
        idle_after = await total()  # background work plus one serverStatus, as in the busy stretch
    await mongo.close()
    return (after - before - (idle_after - idle_before)) / calls


async def throughput(
    calls: dict[str, Call], *, seconds: float, concurrency: int, warm_up: float
) -> None:
    print(f"\n{seconds:g} s per operation, {concurrency} concurrent clients\n")
    results = {}
    for name, call in calls.items():
        results[name] = await drive(
            name, call, seconds=seconds, concurrency=concurrency, warm_up=warm_up
        )
        print(results[name].line(), flush=True)
    ratio = results["GraphQL me.balance"].rate / results["hand-written balance (JSON)"].rate
    print(f"\nGraphQL / hand-written balance, requests/s: {ratio:.2f}")


async def compare_cpu(
    calls: dict[str, Call],
    cached: tuple[Call, Call],
    pids: tuple[int, int],
    args: argparse.Namespace,
) -> None:
    """Server CPU per balance request, the hand-written server's (pids[1]) and the API's: each
    request with its own member's new token (the target), and all with one token, which the
    verifier answers from its cache (what the JWT check costs is the difference)."""
    hand = CpuTally("hand-written balance", pids[1])
    graphql = CpuTally("GraphQL me.balance", pids[0])
    hand_cached = CpuTally("hand-written, one token", pids[1])
    graphql_cached = CpuTally("GraphQL, one token", pids[0])
    await server_cpu(
        [
            (hand, calls["hand-written balance (JSON)"]),
            (graphql, calls["GraphQL me.balance"]),
            (hand_cached, cached[0]),
            (graphql_cached, cached[1]),
        ],
        rounds=args.cpu_rounds,
        seconds=args.seconds / 2,
        concurrency=args.concurrency,
    )
    print(f"\nserver CPU per request ({args.cpu_rounds} interleaved rounds, from /proc):")
    for tally in (hand, graphql, hand_cached, graphql_cached):
        print(f"  {tally.name:<30} {tally.per_request_ms:5.2f} ms   ({tally.requests} requests)")
    for label, pair, target in (
        ("each request its own member's token", (hand, graphql), " (target >= 0.85)"),
        ("one cached token", (hand_cached, graphql_cached), ""),
    ):
        if pair[0].cpu and pair[1].cpu:
            cpu_ratio = pair[0].per_request_ms / pair[1].per_request_ms
            print(f"  hand-written / GraphQL CPU, {label}: {cpu_ratio:.2f}{target}")
        else:  # a short run (--smoke) can fall within one clock tick of /proc
            print(f"  hand-written / GraphQL CPU, {label}: under a clock tick, not measured")


async def compare_history_pages(
    api: str, mongo_url: str, tokens: dict[int, str], args: argparse.Namespace
) -> None:
    """A first history page of 20 for each member size, one client at a time: latency, the
    ratio of the largest to the smallest (target <= 2), and database commands per page."""
    print("\nfirst history page of 20 by the member's entries (one client):")
    medians = {}
    for size, token in tokens.items():
        headers = {"authorization": f"Bearer {token}"}

        async def page(
            http: httpx.AsyncClient, headers: dict[str, str] = headers, size: int = size
        ) -> bool:
            found = data(await http.post(api, json={"query": HISTORY}, headers=headers))
            return found is not None and len(found["me"]["history"]["edges"]) == min(size, PAGE)

        result = await drive(
            f"{size:,} entries", page, seconds=args.seconds, concurrency=1, warm_up=args.warm_up
        )
        per_call = await commands_per_call(mongo_url, page, args.calls)
        print(f"{result.line()}   {per_call:.1f} commands per page (target 2)")
        medians[size] = statistics.median(result.latencies)
    smallest, largest = min(medians), max(medians)
    ratio = medians[largest] / medians[smallest]
    print(f"p50 at {largest:,} / p50 at {smallest:,} entries: {ratio:.2f} (target <= 2)")


async def main(args: argparse.Namespace) -> None:
    history_sizes = [int(size) for size in args.history_sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="jifen-bench-") as tmp:
        data_dir = Path(tmp)
        database = EmbeddedMongo(data_dir / "db", sync_on_commit=not args.smoke)
        mongo_url = database.start()
        processes: list[subprocess.Popen[bytes]] = []
        try:
            env = {
                **os.environ,
                "JIFEN_MONGODB_URL": mongo_url,
                "JIFEN_DB_NAME": "bench",
                "JIFEN_DATA_DIR": str(data_dir),
                "JIFEN_ENV": "test",
                "JIFEN_LOG_LEVEL": "WARNING",
            }
            settings = Settings(
                mongodb_url=mongo_url, db_name="bench", data_dir=data_dir, env=Environment.TEST
            )
            keys = load_key_material(settings)  # generates the key the servers will load
            issuer, _ = build_token_services(settings, keys, SystemClock())
            assert issuer is not None
            print(f"seeding {args.members} members ...", flush=True)
            members = await seed(settings, args.members, args.entries)
            tokens = [
                issuer.mint(PrincipalKind.MEMBER, member, ttl=timedelta(hours=1))
                for member in members
            ]
            print(f"seeding members with {' and '.join(map(str, history_sizes))} entries ...")
            history_tokens = await seed_history(settings, issuer, history_sizes)
            api_port, base_port = free_port(), free_port()
            processes.append(start_server("app.main:create_app", api_port, env))
            processes.append(start_server("bench.api:baseline_app", base_port, env))
            api = f"http://127.0.0.1:{api_port}/graphql"
            base = f"http://127.0.0.1:{base_port}/balance"
            await wait_ready(f"http://127.0.0.1:{api_port}/healthz")
            await wait_ready(base)

            fresh = fresh_tokens(issuer, members, args.distinct_tokens)
            calls = operations(api, base, tokens, fresh)
            await throughput(
                calls, seconds=args.seconds, concurrency=args.concurrency, warm_up=args.warm_up
            )
            one_token = {"authorization": f"Bearer {tokens[0]}"}
            cached = balance_calls(api, base, lambda: one_token)
            await compare_cpu(calls, cached, (processes[0].pid, processes[1].pid), args)
            print("\ndatabase commands per operation (serverStatus opcounters):")
            for (name, call), target in zip(calls.items(), ("1", "1", "2", "-"), strict=True):
                per_call = await commands_per_call(mongo_url, call, args.calls)
                print(f"  {name:<30} {per_call:5.1f}   (target {target})")
            await compare_history_pages(api, mongo_url, history_tokens, args)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=15)
            database.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cpu-rounds", type=int, default=6)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--entries", type=int, default=60, help="of the first four members")
    parser.add_argument(
        "--history-sizes", default="10,10000", help="entries of the members whose pages compare"
    )
    parser.add_argument("--warm-up", type=float, default=1.0, help="seconds before each measure")
    parser.add_argument("--calls", type=int, default=20, help="calls counted per operation")
    parser.add_argument(
        "--distinct-tokens",
        type=int,
        default=VERIFIED_CACHE_SIZE + 2000,
        help="tokens the balance requests take in turn (more than the verifier caches)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    arguments = parser.parse_args()
    if arguments.smoke:
        vars(arguments).update(SMOKE)
    asyncio.run(main(arguments))
