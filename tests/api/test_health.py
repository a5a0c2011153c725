"""Liveness, readiness and the public program query through the real ASGI app."""

from __future__ import annotations

import httpx

from app.clock import FrozenClock
from app.db import Mongo
from app.program import Program, Tier, save_program

PROGRAM = Program(
    name="Test Store",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(
        Tier(code="member", name="Member", threshold=0),
        Tier(code="gold", name="Gold", threshold=5000),
    ),
)


async def test_healthz_and_readyz_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "subscriptions": 0}
    assert response.headers["x-request-id"]


async def test_program_is_public(client: httpx.AsyncClient, runtime, clock: FrozenClock) -> None:
    await save_program(runtime.mongo, clock, PROGRAM)
    response = await client.post(
        "/graphql", json={"query": "{ program { name currency tiers { code threshold } } }"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {
            "program": {
                "name": "Test Store",
                "currency": "积分",
                "tiers": [{"code": "member", "threshold": 0}, {"code": "gold", "threshold": 5000}],
            }
        }
    }


async def test_unconfigured_program_is_a_typed_error(client: httpx.AsyncClient) -> None:
    body = (await client.post("/graphql", json={"query": "{ program { name } }"})).json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_CONFIGURED"


async def test_saving_a_program_keeps_the_previous_version(
    mongo: Mongo, clock: FrozenClock
) -> None:
    first = await save_program(mongo, clock, PROGRAM)
    second = await save_program(mongo, clock, PROGRAM.model_copy(update={"name": "Renamed"}))
    assert (first.version, second.version) == (1, 2)
    assert await mongo["program"].find_one({"_id": "v1"}) is not None
