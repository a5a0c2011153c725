"""The production shape on one machine: three `jifen serve` processes (API only, as with a MongoDB
URL) and two `jifen worker` processes on one database. Purchases (partner API), redemptions and
profile updates (member API) and expiry-warning subscriptions (GraphQL over WebSocket) go through
all three at once; then every job's work is found done once, every subscriber warned once, the
mutation limit counted across processes, and the books exact."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock, SystemClock
from app.db import Mongo
from app.embedded import free_port
from app.ledger import Rolling, earn, verify_balances
from app.members import create_member
from app.partners import register_partner
from app.program import save_program
from app.reports.rollup import watermark
from app.rewards import Reward
from graphql_schema.ids import to_global_id
from tests.partners.api import BALANCE, PROGRAM, PURCHASE, member_ref, purchase_input
from tests.processes import jifen_env, served_issuer, start_serve, stop, wait_ready

WARNED = 6  # members with points expiring in 5 days, each subscribed on one or two processes
REDEEMERS = 6  # members who redeem a reward twice, through two processes
IDLE = 3  # members who do nothing: only the expiry job takes their overdue points
LIMIT = 12  # the member mutation limit per minute, for every process
PRICE = 100
SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id } userErrors { code } }
}"""
UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { member { name } userErrors { code } }
}"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def issuer(data_dir: Path) -> TokenIssuer:
    return served_issuer(data_dir)  # the key every process will load from the shared data folder


@pytest.fixture
def env(mongo_url: str, db_name: str, data_dir: Path) -> dict[str, str]:
    return jifen_env(
        mongo_url,
        db_name,
        data_dir,
        worker_interval_seconds="0.2",
        worker_lease_seconds="2",
        mutation_limit_per_minute=str(LIMIT),
    )


@pytest.fixture
def api_ports(env: dict[str, str], data_dir: Path, mongo: Mongo) -> Iterator[list[int]]:
    """Three `jifen serve` processes: with a MongoDB URL set, serve runs the API and no worker."""
    with ExitStack() as stack:
        started = []
        for n in range(3):
            port = free_port()
            process = start_serve(env, port, data_dir.parent / f"serve-{n}.log")
            stack.callback(stop, process)
            started.append((port, process))
        for n, (port, process) in enumerate(started):
            wait_ready(port, process, data_dir.parent / f"serve-{n}.log")
        yield [port for port, _ in started]


def start_workers(env: dict[str, str], folder: Path, stack: ExitStack) -> list[int]:
    pids = []
    for n in range(2):
        with (folder / f"worker-{n}.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"], env=env, stdout=log, stderr=log
            )
        stack.callback(stop, worker)
        pids.append(worker.pid)
    return pids


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"not in {within} s: {what}"
        await asyncio.sleep(0.05)


async def ask(
    http: httpx.AsyncClient, port: int, query: str, token: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def subscribe(port: int, token: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "w", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    return ws


async def warning_of(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
    assert message["type"] == "next", message
    warning: dict[str, Any] = message["payload"]["data"]["expiryWarnings"]
    return warning


async def arrange(mongo: Mongo) -> dict[str, list[str]]:
    """The program, a reward, and members: every one with 50 points that expired 5 days ago (no
    job has taken them yet, and their earn was recorded 10 days ago, below the rollup's mark);
    the warned with 100 more expiring in 5 days, the redeemers with 1,000 that never expire."""
    clock = SystemClock()
    await save_program(mongo, clock, PROGRAM)
    await mongo["rewards"].insert_one(
        Reward(id="r_cup", name="Cup", points_price=PRICE, stock=100).model_dump(by_alias=True)
    )
    past = FrozenClock(clock.now() - timedelta(days=10))
    members: dict[str, list[str]] = {"warned": [], "redeemers": [], "limited": [], "idle": []}
    roles = (("warned", WARNED), ("redeemers", REDEEMERS), ("limited", 1), ("idle", IDLE))
    for role, count in roles:
        for n in range(count):
            member = await create_member(mongo, clock, name=f"{role} {n}", tier="member")
            members[role].append(member.id)
            await earn(
                mongo,
                past,
                member_id=member.id,
                points=50,
                idempotency_key=f"old:{member.id}",
                policy=Rolling(days=5),
            )
            if role == "warned":
                await earn(
                    mongo,
                    clock,
                    member_id=member.id,
                    points=100,
                    idempotency_key=f"soon:{member.id}",
                    policy=Rolling(days=5),
                )
            elif role == "redeemers":
                await earn(
                    mongo,
                    clock,
                    member_id=member.id,
                    points=1000,
                    idempotency_key=f"keep:{member.id}",
                )
    return members


async def test_three_api_processes_and_two_workers_share_jobs_warnings_limits_and_books(
    mongo: Mongo, env: dict[str, str], api_ports: list[int], issuer: TokenIssuer, tmp_path: Path
) -> None:
    members = await arrange(mongo)
    everyone = [m for role in members.values() for m in role]
    buyers = [m for m in everyone if m not in members["idle"]]
    partner = await register_partner(
        mongo, SystemClock(), name="Till", actor="cli:test", scopes=["points:earn", "points:read"]
    )
    till = issuer.mint(PrincipalKind.PARTNER, partner.id, scopes=("points:earn", "points:read"))
    token = {m: issuer.mint(PrincipalKind.MEMBER, m) for m in everyone}

    # Each warned member subscribed on one process, every other one on a second process too.
    subscribers = {
        (m, api_ports[(n + k) % 3]): await subscribe(api_ports[(n + k) % 3], token[m])
        for n, m in enumerate(members["warned"])
        for k in range(1 + n % 2)
    }
    stack = ExitStack()
    try:
        worker_pids = start_workers(env, tmp_path, stack)
        # A connection per request: the test's calls to one process can be minutes apart, and a
        # pooled connection the server closed as idle (uvicorn's keep-alive, 5 s) in the instant
        # it was reused failed a read once (httpx retries a connect, not a POST's read).
        fresh = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=fresh) as http:
            # Two purchases for every active member, each through another process than the last.
            purchases = [
                ask(
                    http,
                    api_ports[(n + k) % 3],
                    PURCHASE,
                    till,
                    {"input": purchase_input(m, f"o-{m}-{k}", at=_now(), amounts=(str(20 + n),))},
                )
                for n, m in enumerate(buyers)
                for k in range(2)
            ]
            redemptions = [
                ask(
                    http,
                    api_ports[(n + k) % 3],
                    REDEEM,
                    token[m],
                    {
                        "input": {
                            "rewardId": to_global_id("Reward", "r_cup"),
                            "idempotencyKey": f"k{k}",
                        }
                    },
                )
                for n, m in enumerate(members["redeemers"])
                for k in range(2)
            ]
            [limited] = members["limited"]
            updates = [
                ask(http, api_ports[k % 3], UPDATE, token[limited], {"input": {"name": f"L{k}"}})
                for k in range(LIMIT + 9)
            ]
            answers = await asyncio.gather(*purchases, *redemptions, *updates)
            bought = answers[: len(purchases)]
            redeemed = answers[len(purchases) : len(purchases) + len(redemptions)]
            updated = answers[len(purchases) + len(redemptions) :]

            earned: Counter[str] = Counter()
            for body in bought:
                payload = body["data"]["recordPurchase"]
                assert payload["userErrors"] == [], payload
                earned[payload["purchase"]["memberId"]] += payload["purchase"]["entry"]["points"]
            assert all(earned[_id(m)] > 0 for m in buyers), earned
            for body in redeemed:
                assert body["data"]["redeemReward"]["redemption"] is not None, body
            # The limit is one count in the database: 21 updates spread over three processes
            # (7 each, under the limit in any one of them) pass exactly LIMIT times.
            refused = Counter(
                tuple(e["extensions"]["code"] for e in body.get("errors", [])) for body in updated
            )
            assert refused == {(): LIMIT, ("RATE_LIMITED",): 9}, refused

            # Every subscriber warned once, on whichever process it is connected to.
            for (member, port), ws in subscribers.items():
                warning = await warning_of(ws)
                assert warning["points"] == 100 and warning["daysLeft"] == 5, (member, port)

            # Every overdue lot expired once, whichever worker took the job.
            async def all_expired() -> bool:
                return await mongo["ledger"].count_documents({"kind": "EXPIRE"}) >= len(everyone)

            await wait_for(all_expired, "every overdue lot expired")

            async def rolled_up() -> bool:
                return await watermark(mongo) is not None

            await wait_for(rolled_up, "the ledger rolled up")
            # Both jobs pass twice more under their leases (a second run would find work again
            # if the first had left any, or count it again if the lease let two run at once).
            since = SystemClock().now()

            async def passed_again() -> bool:
                leases = {
                    lease["_id"]: lease
                    async for lease in mongo["leases"].find(
                        {"_id": {"$in": ["expire", "warn", "ledger-rollup"]}}
                    )
                }
                return len(leases) == 3 and all(
                    lease["renewed_at"] > since + timedelta(seconds=0.4)
                    for lease in leases.values()
                )

            await wait_for(passed_again, "the jobs ran again")
            for ws in subscribers.values():  # nothing more for anyone
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.2)

            expiries = [e async for e in mongo["ledger"].find({"kind": "EXPIRE"})]
            assert Counter(e["member_id"] for e in expiries) == Counter(everyone)
            assert all(e["points"] == -50 for e in expiries), expiries
            notifications = [
                n async for n in mongo["notifications"].find({"kind": "expiry_warning"})
            ]
            assert sorted(n["member_id"] for n in notifications) == sorted(members["warned"])
            logs = [(tmp_path / f"worker-{n}.log").read_text() for n in range(2)]
            assert sum(_handled(log, "warn") for log in logs) == WARNED, logs
            assert sum(_handled(log, "expire") for log in logs) >= IDLE, logs

            # The rollup counted the old earns once: its buckets hold what the ledger recorded
            # below its mark, no more.
            mark = await watermark(mongo)
            below = await mongo["ledger"].count_documents({"recorded_at": {"$lte": mark}})
            buckets = [b async for b in mongo["ledger_hours"].find()]
            assert below == len(everyone) and sum(b["count"] for b in buckets) == below, buckets

            # Only the workers hold leases: the API processes run no job.
            owners = {lease["owner"] async for lease in mongo["leases"].find()}
            assert {int(owner.split(":")[1]) for owner in owners} <= set(worker_pids), owners

            # The books are exact, and every process serves the same balances.
            assert await verify_balances(mongo) == []
            expected = {m: earned[_id(m)] for m in everyone}
            for m in members["warned"]:
                expected[m] += 100
            for m in members["redeemers"]:
                expected[m] += 1000 - 2 * PRICE
            for port in api_ports:
                for m in everyone:
                    body = await ask(http, port, BALANCE, till, {"member": member_ref(m)})
                    balance = body["data"]["memberBalance"]
                    assert balance["available"] == expected[m], (port, m, balance)
            reward = await mongo["rewards"].find_one({"_id": "r_cup"})
            assert reward is not None and reward["stock"] == 100 - 2 * REDEEMERS
    finally:
        for ws in subscribers.values():
            await ws.close()
        stack.close()
        for n in range(2):
            log = (tmp_path / f"worker-{n}.log").read_text()
            assert "Traceback" not in log, log


def _handled(log: str, job: str) -> int:
    """What the worker's passes of `job` did, by its log lines ("job warn handled 6")."""
    return sum(int(n) for n in re.findall(rf"job {job} handled (\d+)", log))


def _now() -> str:
    return SystemClock().now().isoformat().replace("+00:00", "Z")


def _id(member_id: str) -> str:
    """A purchase names its member by global id."""
    return to_global_id("Member", member_id)
