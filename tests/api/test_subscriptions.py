"""The expiryWarnings subscription keeps the contract's shape; until issue #5 it ends with a clear error."""

from __future__ import annotations

from starlette.testclient import TestClient

from app.auth.principals import PrincipalKind

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"


def subscribe(app, token: str | None) -> list[dict]:
    """One graphql-transport-ws session: init with the token, subscribe, read until complete."""
    with (
        TestClient(app) as http,
        http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        ws.send_json({"type": "connection_init", "payload": payload})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        messages = []
        while True:
            message = ws.receive_json()
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return messages


def test_expiry_warnings_answers_not_implemented_until_delivery_lands(app, issuer) -> None:
    result, complete = subscribe(app, issuer.mint(PrincipalKind.MEMBER, "m_1"))
    assert result["payload"] == {
        "data": None,
        "errors": [
            {
                "message": "expiryWarnings is not delivered yet (issue #5)",
                "extensions": {"code": "NOT_IMPLEMENTED"},
            }
        ],
    }
    assert complete == {"id": "1", "type": "complete"}


def test_expiry_warnings_needs_a_member_token_in_connection_init(app, issuer) -> None:
    for token in (None, "garbage", issuer.mint(PrincipalKind.PARTNER, "p_1")):
        [message] = subscribe(app, token)
        codes = [error["extensions"]["code"] for error in message["payload"]]
        assert codes == (["FORBIDDEN"] if token and token != "garbage" else ["UNAUTHENTICATED"])
