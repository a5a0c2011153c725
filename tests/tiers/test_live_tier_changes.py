"""A tier change reaches the member live: a uvicorn API process, a real WebSocket client
subscribed to tierChanges, and the upgrade made by a check-in posted over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.auth import PrincipalKind, TokenIssuer
from app.clock import SystemClock
from app.db import Mongo
from app.members import create_member
from app.program import CheckIn, save_program
from tests.processes import api_process, jifen_env, served_issuer, subscriptions_open
from tests.tiers.programs import program

SUBSCRIBE = (
    "subscription { tierChanges { from { code } to { code name } reason qualifyingPoints } }"
)
CHECK_IN = "mutation { checkIn { checkIn { points } userErrors { code } } }"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def issuer(data_dir: Path) -> TokenIssuer:
    return served_issuer(data_dir)  # the key the API processes will load


@pytest.fixture
def port(mongo_url: str, db_name: str, data_dir: Path, issuer: TokenIssuer) -> Iterator[int]:
    env = jifen_env(mongo_url, db_name, data_dir)
    with api_process(env, data_dir.parent / "api.log") as serving:
        yield serving


async def subscribe(port: int, token: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "t", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    return ws


async def test_the_upgrade_is_pushed_to_the_members_own_subscription(
    mongo: Mongo, port: int, issuer: TokenIssuer
) -> None:
    clock = SystemClock()
    await save_program(mongo, clock, program(check_in=CheckIn(points_by_streak=(150,))))
    climber = (await create_member(mongo, clock, name="Climber", tier="member")).id
    other = (await create_member(mongo, clock, name="Other", tier="member")).id
    token = {m: issuer.mint(PrincipalKind.MEMBER, m) for m in (climber, other)}
    mine, theirs = await subscribe(port, token[climber]), await subscribe(port, token[other])
    try:
        await subscriptions_open(port, 2)  # registered with the hub: the change is not missed
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post(
                "/graphql",
                json={"query": CHECK_IN},
                headers={"authorization": f"Bearer {token[climber]}"},
            )
        assert response.json()["data"]["checkIn"]["checkIn"] == {"points": 150}
        message = json.loads(await asyncio.wait_for(mine.recv(), 10))
        assert message["type"] == "next", message
        assert message["payload"]["data"]["tierChanges"] == {
            "from": {"code": "member"},
            "to": {"code": "silver", "name": "Silver"},
            "reason": "QUALIFIED",
            "qualifyingPoints": 150,
        }
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(theirs.recv(), 1.0)
    finally:
        await mine.close()
        await theirs.close()
