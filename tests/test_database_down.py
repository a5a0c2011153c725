"""When the database dies under a running API: answers in time, readiness says so, the server stops.

`jifen serve` runs on a database process of this test's own, which the test SIGKILLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.auth import PrincipalKind
from app.clock import SystemClock
from app.db import connect
from app.embedded import EmbeddedMongo, free_port
from app.seed import DEMO_MEMBER_ID, seed_demo
from tests.processes import jifen_env, served_issuer, start_serve, wait_ready

BUDGET = 2.0  # JIFEN_REQUEST_TIMEOUT_SECONDS of the server under test
LATE = 1.5  # what the answer may take beyond the budget on a loaded machine
GRACE = 10.0  # a SIGTERMed serve is gone within this, whatever the database does

ME = "{ me { balance { available } } }"
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id } userErrors { code } } }"""


@dataclass
class Api:
    url: str
    serve: subprocess.Popen[bytes]
    token: str
    reward_id: str

    def ask(self, query: str, variables: dict[str, object] | None = None) -> tuple[dict, float]:
        started = time.monotonic()
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        return response.json(), time.monotonic() - started


def _member_token(data_dir: Path) -> str:
    return served_issuer(data_dir).mint(PrincipalKind.MEMBER, DEMO_MEMBER_ID)


async def _seed(url: str) -> None:
    mongo = connect(url, "jifen")
    try:
        await seed_demo(mongo, SystemClock())
    finally:
        await mongo.close()


@pytest.fixture(scope="module")
def api_on_a_dead_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A serving API whose database was SIGKILLed after it became ready, for the tests that only
    ask it (a database and a serve started: 4 s of CPU)."""
    yield from _api_on_a_dead_database(tmp_path_factory.mktemp("dead-database"))


@pytest.fixture
def own_api_on_a_dead_database(tmp_path: Path) -> Iterator[Api]:
    """The same, for a test that stops it."""
    yield from _api_on_a_dead_database(tmp_path)


def _api_on_a_dead_database(tmp_path: Path) -> Iterator[Api]:
    database = EmbeddedMongo(tmp_path / "db", sync_on_commit=False)
    url = database.start()
    asyncio.run(_seed(url))
    data_dir, port = tmp_path / "data", free_port()
    token = _member_token(data_dir)
    env = jifen_env(url, "jifen", data_dir, request_timeout_seconds=str(BUDGET))
    serve = start_serve(env, port, tmp_path / "serve.log")
    try:
        wait_ready(port, serve)
        api = Api(f"http://127.0.0.1:{port}", serve, token, "")
        rewards, _ = api.ask("{ rewards(first: 1) { edges { node { id } } } }")
        api.reward_id = rewards["data"]["rewards"]["edges"][0]["node"]["id"]
        assert database.process is not None
        database.process.kill()
        database.process.wait()
        yield api
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        database.stop()


def test_requests_answer_unavailable_within_their_budget(api_on_a_dead_database: Api) -> None:
    api = api_on_a_dead_database
    body, took = api.ask(ME)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"], body
    assert took < BUDGET + LATE
    variables = {"input": {"rewardId": api.reward_id, "idempotencyKey": "k1"}}
    body, took = api.ask(REDEEM, variables)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"], body
    assert took < BUDGET + LATE


def test_readiness_says_503_within_a_second(api_on_a_dead_database: Api) -> None:
    started = time.monotonic()
    response = httpx.get(f"{api_on_a_dead_database.url}/readyz", timeout=30)
    assert response.status_code == 503
    assert time.monotonic() - started < 1.0


def _ask_while_stopping(api: Api) -> None:
    # The request may land before the signal, or find the socket already closed: either is fine.
    with contextlib.suppress(httpx.HTTPError):
        api.ask(ME)


def test_sigterm_stops_the_server_within_its_grace_period(
    own_api_on_a_dead_database: Api,
) -> None:
    api = own_api_on_a_dead_database
    in_flight = threading.Thread(target=_ask_while_stopping, args=(api,), daemon=True)
    in_flight.start()
    api.serve.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        code = api.serve.wait(GRACE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve still running {GRACE} s after SIGTERM")
    assert code == 0
    assert time.monotonic() - started < GRACE
