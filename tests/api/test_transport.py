"""How /graphql is served: GraphiQL in dev only, no GET queries, introspection off in production,
CORS for configured origins, graphql-transport-ws only, request ids, masked internal errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.auth import PrincipalKind
from app.config import Environment, Settings
from app.main import create_app

INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.fixture
async def make_client(settings: Settings, clock) -> AsyncIterator:
    opened: list = []

    async def build(**overrides) -> httpx.AsyncClient:
        application = create_app(settings.model_copy(update=overrides), clock=clock)
        context = application.router.lifespan_context(application)
        await context.__aenter__()
        opened.append(context)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://jifen.test"
        )

    yield build
    for context in reversed(opened):
        await context.__aexit__(None, None, None)


async def test_graphiql_is_served_in_dev_only(make_client) -> None:
    dev = await make_client(env=Environment.DEV)
    page = await dev.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    test = await make_client(env=Environment.TEST)
    assert (await test.get("/graphql", headers={"accept": "text/html"})).status_code == 404


async def test_queries_over_get_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ program { name } }"})
    assert response.status_code in (400, 404, 405)
    assert "data" not in response.text


async def test_introspection_is_off_in_production(make_client) -> None:
    production = await make_client(env=Environment.PRODUCTION)
    body = (await production.post("/graphql", json={"query": INTROSPECTION})).json()
    assert body["data"] is None
    [error] = body["errors"]  # one error, not one per introspection field
    assert "introspection" in error["message"].lower()
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    dev = await make_client(env=Environment.DEV)
    body = (await dev.post("/graphql", json={"query": INTROSPECTION})).json()
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_cors_allows_configured_origins_only(make_client) -> None:
    web = await make_client(cors_origins=["https://app.example.com"])
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    allowed = await web.options("/graphql", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    denied = await web.options("/graphql", headers={**preflight, "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in denied.headers


async def test_an_allowed_origin_may_send_the_preflight_header(make_client) -> None:
    web = await make_client(cors_origins=["https://app.example.com"])
    preflight = {
        "origin": "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, graphql-preflight",
    }
    allowed = await web.options("/graphql", headers=preflight)
    assert allowed.status_code == 200, allowed.text
    assert "graphql-preflight" in allowed.headers["access-control-allow-headers"].lower()


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    mine = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"x-request-id": "a b/" * 40})
    assert hostile.headers["x-request-id"] != "a b/" * 40
    assert len(hostile.headers["x-request-id"]) == 32


async def test_internal_errors_are_masked_and_logged(client, runtime, caplog) -> None:
    # A program document that no longer validates: the resolver fails unexpectedly.
    await runtime.mongo["program"].insert_one({"_id": "current", "name": 42})
    with caplog.at_level("ERROR"):
        body = (await client.post("/graphql", json={"query": "{ program { name } }"})).json()
    assert body["errors"][0]["message"] == "Internal server error."
    assert "extensions" not in body["errors"][0] or "validation" not in str(body["errors"][0])
    assert any("unexpected error" in record.getMessage() for record in caplog.records)


def test_only_graphql_transport_ws_is_spoken(settings: Settings, clock) -> None:
    application = create_app(settings, clock=clock)
    with TestClient(application) as http:
        with http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            assert ws.accepted_subprotocol == "graphql-transport-ws"
            token = application.state.runtime.issuer.mint(PrincipalKind.MEMBER, "m_1")
            ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert ws.receive_json()["type"] == "connection_ack"
        with (
            pytest.raises(WebSocketDisconnect),
            http.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws,
        ):
            ws.receive_json()
