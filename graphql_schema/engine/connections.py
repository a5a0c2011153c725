"""A graphql-transport-ws connection whose token expiry, and its member's access, are part of
its lifetime.

When the connection is acknowledged, a timer starts that closes the socket with 4401 once the
token expires, or with 4403 as soon as the member's access is revoked (suspended or erased: the
hub delivers the ACCESS_REVOKED notification to this process); when the connection ends, for
whatever reason, the timer and the hub listener end with it. A timer left running after its
client left would keep the connection's context (and socket) alive until the token expires:
fifteen minutes of memory per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from app.auth import PrincipalKind
from app.members import ACCESS_REVOKED
from graphql_schema.context import Context

TOKEN_EXPIRED = 4401
ACCESS_REVOKED_CLOSE = 4403


class ExpiringConnection(BaseGraphQLTransportWSHandler[Context, Any]):
    # A timer handle, not a task waiting on an event: a process holds one per live socket, and a
    # task with its coroutine, timeout and event cost ten times the memory of a handle.
    expiry_timer: asyncio.TimerHandle | None = None
    stop_listening: Callable[[], None] | None = None
    closing: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Strawberry cancels its wait for connection_init here but keeps the task for the
        # socket's life (about 1 KiB each); the loop holds it until its cancellation has run.
        self.connection_init_timeout_task = None
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None and self.expiry_timer is None:
            if principal.kind is PrincipalKind.MEMBER:
                self.stop_listening = self.context.runtime.hub.listen(
                    self._close_on_revocation, principal.subject
                )
            now = self.context.runtime.clock.now()
            self.expiry_timer = asyncio.get_running_loop().call_later(
                max(0.0, (principal.expires_at - now).total_seconds()),
                self._close,
                TOKEN_EXPIRED,
                "token expired",
            )

    def _close_on_revocation(self, document: dict[str, Any]) -> None:
        if document.get("kind") == ACCESS_REVOKED:
            self._close(ACCESS_REVOKED_CLOSE, "access revoked")

    def _close(self, code: int, reason: str) -> None:
        """Close the socket with `code`, once: the first of expiry and revocation wins."""
        self._stop_watching()
        if self.closing is None:
            self.closing = asyncio.create_task(self._close_socket(code, reason))

    async def _close_socket(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            await self.websocket.close(code=code, reason=reason)

    def _stop_watching(self) -> None:
        stop, self.stop_listening = self.stop_listening, None
        if stop is not None:
            stop()
        timer, self.expiry_timer = self.expiry_timer, None
        if timer is not None:
            timer.cancel()

    async def shutdown(self) -> None:
        self._stop_watching()
        closing = self.closing
        if closing is not None and closing is not asyncio.current_task():
            closing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closing
        await super().shutdown()
