"""The outbox against a local test gateway: signatures, retries with backoff, dead letters, no duplicates."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.notifications.outbox import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    GatewayResponse,
    OutboxPolicy,
    dispatch_due,
    enqueue,
    retry_dead,
    verify_signature,
)

SECRET = b"test-gateway-secret"


class Gateway:
    """A stand-in for the brand's push gateway: fails the first `failures` requests, dedupes by key."""

    def __init__(self, clock: FrozenClock, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.processed: dict[str, dict] = {}
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                gateway.requests.append((dict(self.headers), body))
                if len(gateway.requests) <= gateway.failures:
                    self.send_response(503)
                    self.end_headers()
                    return
                header = self.headers[SIGNATURE_HEADER]
                if not verify_signature(SECRET, header, body, clock.now()):
                    self.send_response(401)
                    self.end_headers()
                    return
                gateway.processed.setdefault(self.headers[IDEMPOTENCY_HEADER], json.loads(body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/push"


@pytest.fixture
def gateway(clock: FrozenClock) -> Iterator[Gateway]:
    server = Gateway(clock, failures=2)
    threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
    yield server
    server.httpd.shutdown()


async def http_post(url: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(url, content=body, headers=headers)
    return GatewayResponse(response.status_code, response.text)


POLICY = OutboxPolicy(max_attempts=4, first_backoff=timedelta(seconds=10))


async def test_delivery_is_retried_with_backoff_then_succeeds(
    mongo: Mongo, clock: FrozenClock, gateway: Gateway
) -> None:
    await enqueue(
        mongo,
        clock,
        kind="push",
        idempotency_key="warn:m1:x",
        payload={"points": 120},
        member_id="m1",
    )
    run = {"url": gateway.url, "secret": SECRET, "post": http_post, "policy": POLICY}
    assert await dispatch_due(mongo, clock, **run) == 1  # 503
    assert await dispatch_due(mongo, clock, **run) == 0  # not due before its backoff
    clock.advance(timedelta(seconds=10))
    assert await dispatch_due(mongo, clock, **run) == 1  # 503 again, next backoff doubles
    clock.advance(timedelta(seconds=19))
    assert await dispatch_due(mongo, clock, **run) == 0
    clock.advance(timedelta(seconds=1))
    assert await dispatch_due(mongo, clock, **run) == 1
    delivery = await mongo["outbox"].find_one({"idempotency_key": "warn:m1:x"})
    assert delivery is not None and delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert len(gateway.requests) == 3
    keys = {headers[IDEMPOTENCY_HEADER] for headers, _ in gateway.requests}
    assert keys == {"warn:m1:x"}
    assert gateway.processed["warn:m1:x"]["data"] == {"points": 120}


async def test_enqueueing_twice_delivers_once(
    mongo: Mongo, clock: FrozenClock, gateway: Gateway
) -> None:
    gateway.failures = 0
    for _ in range(3):
        await enqueue(mongo, clock, kind="push", idempotency_key="k1", payload={"n": 1})
    assert await dispatch_due(mongo, clock, url=gateway.url, secret=SECRET, post=http_post) == 1
    assert len(gateway.requests) == 1


async def test_two_dispatchers_never_deliver_the_same_item_twice(
    mongo: Mongo, clock: FrozenClock, gateway: Gateway
) -> None:
    gateway.failures = 0
    for i in range(20):
        await enqueue(mongo, clock, kind="push", idempotency_key=f"k{i}", payload={"n": i})
    run = {"url": gateway.url, "secret": SECRET, "post": http_post}
    counts = await asyncio.gather(
        dispatch_due(mongo, clock, **run), dispatch_due(mongo, clock, **run)
    )
    assert sum(counts) == 20
    assert sorted(h[IDEMPOTENCY_HEADER] for h, _ in gateway.requests) == sorted(
        f"k{i}" for i in range(20)
    )


async def test_dead_letter_after_the_limit_and_operator_retry(
    mongo: Mongo, clock: FrozenClock, gateway: Gateway
) -> None:
    gateway.failures = 100
    await enqueue(mongo, clock, kind="webhook", idempotency_key="k-dead", payload={})
    run = {"url": gateway.url, "secret": SECRET, "post": http_post, "policy": POLICY}
    for _ in range(POLICY.max_attempts):
        await dispatch_due(mongo, clock, **run)
        clock.advance(POLICY.max_backoff)
    delivery = await mongo["outbox"].find_one({"idempotency_key": "k-dead"})
    assert delivery is not None and delivery["status"] == "dead" and "503" in delivery["last_error"]
    assert await dispatch_due(mongo, clock, **run) == 0
    gateway.failures = 0
    assert await retry_dead(mongo, clock, str(delivery["_id"]))
    assert await dispatch_due(mongo, clock, **run) == 1
    assert "k-dead" in gateway.processed


async def test_unreachable_gateway_is_a_retry_not_a_crash(mongo: Mongo, clock: FrozenClock) -> None:
    await enqueue(mongo, clock, kind="push", idempotency_key="k-down", payload={})
    assert (
        await dispatch_due(
            mongo, clock, url="http://127.0.0.1:9/push", secret=SECRET, post=http_post
        )
        == 1
    )
    delivery = await mongo["outbox"].find_one({"idempotency_key": "k-down"})
    assert delivery is not None and delivery["status"] == "pending" and delivery["attempts"] == 1


async def test_a_claim_lapses_when_a_dispatcher_dies(
    mongo: Mongo, clock: FrozenClock, gateway: Gateway
) -> None:
    gateway.failures = 0
    await enqueue(mongo, clock, kind="push", idempotency_key="k-crash", payload={})
    await mongo["outbox"].update_one(
        {"idempotency_key": "k-crash"},
        {"$set": {"status": "delivering", "claimed_until": clock.now() + timedelta(minutes=2)}},
    )
    run = {"url": gateway.url, "secret": SECRET, "post": http_post}
    assert await dispatch_due(mongo, clock, **run) == 0
    clock.advance(timedelta(minutes=2))
    assert await dispatch_due(mongo, clock, **run) == 1


def test_signature_rejects_tampering() -> None:
    from app.notifications.outbox import sign

    now = datetime.fromtimestamp(1_800_000_000, UTC)
    header = sign(SECRET, 1_800_000_000, b'{"a":1}')
    assert verify_signature(SECRET, header, b'{"a":1}', now)
    assert not verify_signature(SECRET, header, b'{"a":2}', now)
    assert not verify_signature(b"other", header, b'{"a":1}', now)
    assert not verify_signature(SECRET, "garbage", b'{"a":1}', now)
    assert not verify_signature(SECRET, "t=" + "9" * 5000 + ",v1=00", b'{"a":1}', now)


def test_a_signature_is_only_good_within_its_tolerance() -> None:
    from app.notifications.outbox import SIGNATURE_TOLERANCE, sign

    signed_at = datetime.fromtimestamp(1_800_000_000, UTC)
    header = sign(SECRET, 1_800_000_000, b'{"a":1}')
    for age in (timedelta(0), SIGNATURE_TOLERANCE, -SIGNATURE_TOLERANCE):
        assert verify_signature(SECRET, header, b'{"a":1}', signed_at + age)
    for age in (timedelta(minutes=6), -timedelta(minutes=6), timedelta(days=365)):
        assert not verify_signature(SECRET, header, b'{"a":1}', signed_at + age), age
    # Moving the timestamp forward to make an old delivery look fresh breaks the HMAC.
    replayed = header.replace("t=1800000000", "t=1800031536")
    assert not verify_signature(SECRET, replayed, b'{"a":1}', signed_at + timedelta(days=365))
