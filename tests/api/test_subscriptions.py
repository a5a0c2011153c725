"""expiryWarnings through the ASGI app: the token in connection_init decides who may subscribe.

Delivery end to end (live uvicorn processes, a worker process) is in tests/test_live_warnings.py.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.auth.principals import PrincipalKind

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
