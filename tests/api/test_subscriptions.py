"""expiryWarnings through the ASGI app: the token in connection_init decides who may subscribe.

Delivery end to end (live uvicorn processes, a worker process) is in tests/test_live_warnings.py.
"""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.auth import PrincipalKind
from graphql_schema.engine.safety import MAX_REPEATS

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"


def init(ws, token: str | None) -> None:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    ws.send_json({"type": "connection_init", "payload": payload})


@pytest.mark.parametrize("token", [None, "garbage"])
def test_missing_or_bad_token_closes_with_4403(app, token) -> None:
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init(ws, token)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_a_partner_token_may_connect_but_not_subscribe(app, issuer) -> None:
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init(ws, issuer.mint(PrincipalKind.PARTNER, "p_1", scopes=["points:earn"]))
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        message = ws.receive_json()
        assert [e["extensions"]["code"] for e in message["payload"]] == ["FORBIDDEN"]


@pytest.mark.timeout(30)  # without the limit the subscription runs and waits for warnings
def test_a_subscription_repeating_one_key_is_refused_before_it_runs(app, issuer) -> None:
    repeats = " points" * (MAX_REPEATS + 1)
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init(ws, issuer.mint(PrincipalKind.MEMBER, "m_1"))
        assert ws.receive_json()["type"] == "connection_ack"
        query = f"subscription {{ expiryWarnings {{{repeats} }} }}"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        message = ws.receive_json()
    assert message["type"] == "error"
    assert [e["message"] for e in message["payload"]] == [
        f"'expiryWarnings.points' is selected more than {MAX_REPEATS} times in one place once"
        " fragments are expanded."
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"query": SUBSCRIBE, "variables": {"x": "\ud800"}},
        {"query": "subscription S { expiryWarnings { points } }", "operationName": "S\ud800"},
        {"query": "subscription S { expiryWarnings { points } }", "operationName": "S\x00"},
        {"query": SUBSCRIBE + " # \ud800"},
    ],
    ids=["a variable", "the operation name", "NUL in the operation name", "the query"],
)
def test_a_subscribe_payload_that_is_not_plain_unicode_text_is_bad_user_input(
    app, issuer, payload, caplog
) -> None:
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init(ws, issuer.mint(PrincipalKind.MEMBER, "m_1"))
        assert ws.receive_json()["type"] == "connection_ack"
        # As a client sends it: JSON escaped to ASCII, the surrogate as \ud800.
        ws.send_text(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = ws.receive_json()
    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["BAD_USER_INPUT"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_connection_init_token_with_a_lone_surrogate_is_refused(app, caplog) -> None:
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init = {"type": "connection_init", "payload": {"Authorization": "Bearer \ud800"}}
        ws.send_text(json.dumps(init))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "query",
    [
        "subscription {",
        "subscription { expiryWarnings { " + "a { " * 200 + "}" * 201,
        "subscription { expiryWarnings { points " + "daysLeft " * 2_000 + "} }",
        "{ me { id } ",
        "subscription S { expiryWarnings { points }",
    ],
    ids=[
        "a syntax error",
        "nested too deeply",
        "too many tokens",
        "a query's syntax error",
        "with an operation name",
    ],
)
def test_a_subscribe_document_that_does_not_parse_closes_the_socket_with_4400(
    app, issuer, query, caplog
) -> None:
    """An outside run sent documents that do not parse over the socket: the server answered only
    `complete`, with no word of why, and logged a traceback for each (the parse fails inside the
    request guard's hook, where strawberry's stream does not catch it, unlike its HTTP path). A
    document that does not parse is an invalid message: strawberry closes with 4400 and the syntax
    error, as the protocol's reference server does."""
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        init(ws, issuer.mint(PrincipalKind.MEMBER, "m_1"))
        assert ws.receive_json()["type"] == "connection_ack"
        payload = {"query": query, "operationName": "S" if "subscription S" in query else None}
        ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4400
    assert closed.value.reason.startswith("Syntax Error: ")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
