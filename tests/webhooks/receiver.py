"""A brand's endpoint over a real socket: an http.server in a thread that verifies every request
with `standardwebhooks.Webhook(secret).verify` and answers as the test tells it (2xx, 500, a
timeout, or holding the request until released)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

# what to do with the n-th request (from 1): "ok", "fail" (500), "slow" (answer after the
# sender's timeout), "hold" (wait until `release` is set, then 500)
Decide = Callable[[int], str]


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    decide: Decide = lambda n: "ok"  # noqa: E731
    slow_seconds: float = 1.5
    accepted: list[Received] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # every webhook-id, in arrival order
    hosts: list[str] = field(default_factory=list)  # every request's Host header
    bad_signatures: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def handle(self, headers: dict[str, str], raw: bytes) -> int:
        with self.lock:
            self.attempts.append(headers.get("webhook-id", ""))
            self.hosts.append(headers.get("host", ""))
            n = len(self.attempts)
        try:
            body = Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            with self.lock:
                self.bad_signatures += 1
            return 400
        action = self.decide(n)
        if action == "fail":
            return 500
        if action == "slow":
            time.sleep(self.slow_seconds)
            return 500
        if action == "hold":
            self.release.wait(60)
            return 500
        with self.lock:
            self.accepted.append(Received(headers["webhook-id"], body))
        return 204


@contextmanager
def receiving(receiver: Receiver, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """The receiver on a free port of 127.0.0.1; over TLS with the context given."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, raw)
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up (a timeout)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


def event_ids(received: list[Received]) -> list[str]:
    return [r.body["id"] for r in received]


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
