"""Verification against a JWKS URL: keys cached by kid, a new kid triggers one refetch (rotation)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.auth import InvalidToken, PrincipalKind, TokenIssuer, TokenVerifier
from app.auth.keys import JwksKeys, SigningKey, key_id, public_jwk
from app.clock import FrozenClock
from app.config import JwtAlgorithm


class KeyServer:
    """A local stand-in for an identity provider's JWKS endpoint (outside the product)."""

    def __init__(self) -> None:
        self.keys: list[dict[str, str]] = []
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.hits += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def publish(self, *keys: ed25519.Ed25519PrivateKey) -> None:
        self.keys = [
            {
                **public_jwk(k.public_key()),
                "kid": key_id(k.public_key()),
                "use": "sig",
                "alg": "EdDSA",
            }
            for k in keys
        ]


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()


def issuer_for(key: ed25519.Ed25519PrivateKey, clock: FrozenClock) -> TokenIssuer:
    signing = SigningKey(JwtAlgorithm.EDDSA, key_id(key.public_key()), key)
    return TokenIssuer(signing, issuer="jifen", audience="jifen-api", clock=clock)


def verifier_for(source: JwksKeys, clock: FrozenClock) -> TokenVerifier:
    return TokenVerifier(
        source,
        algorithm=JwtAlgorithm.EDDSA,
        issuer="jifen",
        audience="jifen-api",
        leeway_seconds=30,
        clock=clock,
    )


async def test_rotation_is_picked_up_with_one_refetch(key_server: KeyServer) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    key_server.publish(old)
    source = JwksKeys(key_server.url, JwtAlgorithm.EDDSA, min_refetch_seconds=0)
    verifier = verifier_for(source, clock)

    principal = await verifier.verify(
        issuer_for(old, clock).mint(PrincipalKind.PARTNER, "pos-1", scopes=["points:earn"])
    )
    assert principal.subject == "pos-1" and principal.has_scope("points:earn")
    for _ in range(5):
        await verifier.verify(issuer_for(old, clock).mint(PrincipalKind.MEMBER, "m1"))
    assert key_server.hits == 1  # cached by kid

    key_server.publish(old, new)
    assert (
        await verifier.verify(issuer_for(new, clock).mint(PrincipalKind.MEMBER, "m1"))
    ).subject == "m1"
    assert key_server.hits == 2


async def test_made_up_kids_cannot_flood_the_key_server(key_server: KeyServer) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    known, stranger = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    key_server.publish(known)
    verifier = verifier_for(
        JwksKeys(key_server.url, JwtAlgorithm.EDDSA, min_refetch_seconds=60), clock
    )
    await verifier.verify(issuer_for(known, clock).mint(PrincipalKind.MEMBER, "m1"))
    forged = [issuer_for(stranger, clock).mint(PrincipalKind.MEMBER, "m1") for _ in range(20)]
    results = await asyncio.gather(*(verifier.verify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) for r in results)
    assert key_server.hits == 1


async def test_unreachable_key_server_rejects_tokens() -> None:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    verifier = verifier_for(JwksKeys("http://127.0.0.1:9/jwks.json", JwtAlgorithm.EDDSA), clock)
    token = issuer_for(ed25519.Ed25519PrivateKey.generate(), clock).mint(PrincipalKind.MEMBER, "m1")
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_removed_from_the_jwks_stops_being_trusted_after_the_max_age(
    key_server: KeyServer,
) -> None:
    clock, monotonic = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC)), Monotonic()
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    key_server.publish(old, new)
    source = JwksKeys(key_server.url, JwtAlgorithm.EDDSA, max_age_seconds=300, monotonic=monotonic)
    verifier = verifier_for(source, clock)
    token = issuer_for(old, clock).mint(PrincipalKind.MEMBER, "m1")
    await verifier.verify(token)

    key_server.publish(new)  # the provider rotates the old key out
    monotonic.now += 299
    await verifier.verify(token)  # still within the cache's max age
    assert key_server.hits == 1
    monotonic.now += 1
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
    assert key_server.hits == 2
    assert (
        await verifier.verify(issuer_for(new, clock).mint(PrincipalKind.MEMBER, "m2"))
    ).subject == "m2"
    assert key_server.hits == 2


async def test_the_jwks_max_age_is_configured(key_server: KeyServer, tmp_path) -> None:
    from app.auth import load_key_material
    from app.config import Environment, Settings

    settings = Settings(
        env=Environment.TEST,
        mongodb_url="mongodb://unused",
        data_dir=tmp_path,
        jwks_url=key_server.url,
        jwks_max_age_seconds=60,
    )
    source = load_key_material(settings).verifying
    assert isinstance(source, JwksKeys) and source.max_age_seconds == 60
