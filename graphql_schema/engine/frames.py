"""What a graphql-transport-ws frame must look like before strawberry's handler reads it.

The handler indexes into each message as the protocol says it is shaped: `[1,2]`, `null`, a
subscribe whose payload is null or whose query is a number raised TypeError inside it, which
dropped the socket without a close frame and logged a traceback. Here every text frame is checked
(size, JSON, shape) and anything else closes the socket with 4400, as the protocol asks for an
invalid message. Binary frames already close with 4400 in strawberry.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonTextMessageReceived

from graphql_schema.engine.safety import MAX_BODY_BYTES

INVALID_MESSAGE = 4400
TOO_BIG = 1009  # what the WebSocket protocol itself answers to a frame over its size limit

# Optional keys of a subscribe payload and the types their values may have.
_SUBSCRIBE_PAYLOAD: dict[str, tuple[type, ...]] = {
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def problem(message: object) -> str | None:
    """Why this decoded frame is not a graphql-transport-ws message, or None when it is one."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a message is a JSON object with a string type"
    if not isinstance(message.get("payload"), dict | None):
        return "a payload is an object"
    kind = message["type"]
    if kind in ("subscribe", "complete") and not (
        isinstance(message.get("id"), str) and message["id"]
    ):
        return f"a {kind} message needs a string id"
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "a subscribe payload is an object with a string query"
        for key, allowed in _SUBSCRIBE_PAYLOAD.items():
            if not isinstance(payload.get(key), allowed):
                return f"a subscribe payload's {key} has the wrong type"
    return None


class CheckedWebSocket(ASGIWebSocketAdapter):
    """Hands strawberry only well-formed messages; closes the socket on anything else."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                # uvicorn's ws_max_size caps frames under `jifen serve`; this covers other servers.
                if len(text) > MAX_BODY_BYTES or len(text.encode()) > MAX_BODY_BYTES:
                    await self.close(TOO_BIG, f"message over {MAX_BODY_BYTES} bytes")
                    return
                try:
                    message = json.loads(text)
                except (ValueError, RecursionError):
                    await self.close(INVALID_MESSAGE, "WebSocket message must be valid JSON")
                    return
                reason = problem(message)
                if reason is not None:
                    await self.close(INVALID_MESSAGE, reason)
                    return
                yield message
        except KeyError:  # a binary frame: strawberry closes with 4400
            raise NonTextMessageReceived from None
        except WebSocketDisconnect:
            pass
