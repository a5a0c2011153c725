"""The HTTP protocol `jifen serve` runs: uvicorn's (httptools), with deadlines for slow clients.

uvicorn times out an idle keep-alive connection, but nothing else: a connection that sends its
request head one byte at a time, or never sends one, stays open for ever, and so does a request
whose body trickles in (the ASGI task waits for it). A thousand such connections cost the
attacker nothing and hold a thousand file descriptors (slowloris). Here each connection must
deliver a complete request head within the head timeout of opening (or of its previous response),
and the body at no less than MIN_BODY_RATE after that; past either it is closed. At most
MAX_WAITING connections may wait for a head at once: the longest waiting is closed to make room,
so a flood of idle connections cannot keep the process from accepting a client that sends its
request at once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Bytes a second a request body must arrive at, at least (a slow mobile network does 100 KB/s).
MIN_BODY_RATE = 16 * 1024
# Connections waiting for a request head, per process.
MAX_WAITING = 512


@cache
def head_timeout() -> float:
    """JIFEN_REQUEST_HEAD_TIMEOUT_SECONDS, read once per process (uvicorn's worker processes
    build their protocols from their own environment)."""
    from app.config import load_settings

    return load_settings().request_head_timeout_seconds


# Connections of this process waiting for a request head, longest waiting first.
_waiting: OrderedDict[DeadlineProtocol, None] = OrderedDict()


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a connection that is slow to send a request is closed."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()
        headers = dict(self.headers)
        length = headers.get(b"content-length", b"")
        if length.isdigit():
            body = int(length)
        elif b"transfer-encoding" in headers:  # chunked: as long again as a head (JSON bodies)
            body = int(MIN_BODY_RATE * head_timeout())
        else:
            body = 0
        if body:  # due at the floor rate
            self._set_deadline(head_timeout() + body / MIN_BODY_RATE)

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._await_head()  # the next request's head, on a kept-alive connection

    def handle_websocket_upgrade(self) -> None:
        self._stop_waiting()
        super().handle_websocket_upgrade()

    def _await_head(self) -> None:
        _waiting[self] = None
        while len(_waiting) > MAX_WAITING:
            oldest, _ = _waiting.popitem(last=False)
            oldest._cancel_deadline()
            oldest.transport.close()
        self._set_deadline(head_timeout())

    def _stop_waiting(self) -> None:
        _waiting.pop(self, None)
        self._cancel_deadline()

    def _set_deadline(self, seconds: float) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        _waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()
