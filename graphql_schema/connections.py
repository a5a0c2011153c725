"""A graphql-transport-ws connection whose token expiry is part of its lifetime.

When the connection is acknowledged, a timer starts that closes the socket with 4401 once the
token expires; when the connection ends, for whatever reason, the timer ends with it. A timer left
running after its client left would keep the connection's context (and socket) alive until the
token expires: fifteen minutes of memory per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from graphql_schema.context import Context

TOKEN_EXPIRED = 4401


class ExpiringConnection(BaseGraphQLTransportWSHandler[Context, Any]):
    expiry_timer: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None and self.expiry_timer is None:
            now = self.context.runtime.clock.now()
            self.expiry_timer = asyncio.create_task(
                self._close_at_expiry((principal.expires_at - now).total_seconds())
            )

    async def _close_at_expiry(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
        with contextlib.suppress(RuntimeError, OSError):
            await self.websocket.close(code=TOKEN_EXPIRED, reason="token expired")

    async def shutdown(self) -> None:
        timer, self.expiry_timer = self.expiry_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        await super().shutdown()
