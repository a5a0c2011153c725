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
    expiry_timer: asyncio.Task[None] | None = None
    stop_listening: Callable[[], None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None and self.expiry_timer is None:
            revoked = asyncio.Event()
            if principal.kind is PrincipalKind.MEMBER:
                self.stop_listening = self.context.runtime.hub.listen(
                    lambda document: _revoke_on(document, revoked), principal.subject
                )
            now = self.context.runtime.clock.now()
            self.expiry_timer = asyncio.create_task(
                self._close_at_expiry((principal.expires_at - now).total_seconds(), revoked)
            )

    async def _close_at_expiry(self, seconds: float, revoked: asyncio.Event) -> None:
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await revoked.wait()
            code, reason = ACCESS_REVOKED_CLOSE, "access revoked"
        except TimeoutError:
            code, reason = TOKEN_EXPIRED, "token expired"
        with contextlib.suppress(RuntimeError, OSError):
            await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        stop, self.stop_listening = self.stop_listening, None
        if stop is not None:
            stop()
        timer, self.expiry_timer = self.expiry_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        await super().shutdown()


def _revoke_on(document: dict[str, Any], revoked: asyncio.Event) -> None:
    if document.get("kind") == ACCESS_REVOKED:
        revoked.set()
