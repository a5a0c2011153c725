"""A local HTTP server standing in for an SMS provider: real sockets, a thread, and the failure
modes a provider's network shows (an answer that never comes, a connection closed, a 503)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Mode(Enum):
    ANSWER = "answer"  # the provider checks the request and answers as documented
    HANG = "hang"  # reads the request, never answers (until the test ends)
    CLOSE = "close"  # reads the request, closes the connection without a word
    UNAVAILABLE = "unavailable"  # 503 with Retry-After and an HTML page, as a load balancer does
    HTML = "html"  # 200 with a page that is not the provider's JSON


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


class FakeProvider:
    """Subclasses implement `answer` from the provider's documentation."""

    def __init__(self) -> None:
        self.mode = Mode.ANSWER
        self.requests: list[Request] = []
        self.released = threading.Event()
        self.hanging = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    "POST",
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length),
                )
                fake.requests.append(request)
                if fake.mode is Mode.HANG:
                    fake.hanging.set()
                    fake.released.wait(timeout=60)
                    self.close_connection = True
                    return
                if fake.mode is Mode.CLOSE:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fake.mode is Mode.UNAVAILABLE:
                    answer = Answer(
                        503, b"<html>503 Service Unavailable</html>", {"Retry-After": "7"}
                    )
                elif fake.mode is Mode.HTML:
                    answer = Answer(200, b"<html>captive portal</html>", {})
                else:
                    answer = fake.answer(request)
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json;charset=utf-8", **answer.headers}
                if answer.body.startswith(b"<"):
                    headers["Content-Type"] = "text/html"
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    @contextmanager
    def running(self) -> Iterator[FakeProvider]:
        thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.released.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=10)
