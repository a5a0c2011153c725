"""Access-token verification over HTTP: every forged, stale or misdirected token is UNAUTHENTICATED."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.auth import PrincipalKind, TokenIssuer
from app.auth.keys import key_id
from app.clock import FrozenClock
from app.members import create_member
from app.program import Program, Tier, save_program
from app.runtime import Runtime

ME = "{ me { memberNo name tier { code } } }"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def ask(client: httpx.AsyncClient, query: str, token: str | None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


@pytest.fixture
async def member_id(runtime: Runtime, clock: FrozenClock) -> str:
    program = Program(
        name="P", currency="pts", tiers=(Tier(code="base", name="Base", threshold=0),)
    )
    await save_program(runtime.mongo, clock, program)
    member = await create_member(
        runtime.mongo, clock, name="Li Lei", tier="base", phone="+8613800000001"
    )
    return member.id


def claims(runtime: Runtime, clock: FrozenClock, subject: str, **overrides: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    base: dict[str, Any] = {
        "iss": runtime.settings.jwt_issuer,
        "aud": runtime.settings.jwt_audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "kind": "member",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(runtime: Runtime, payload: dict[str, Any], **header: Any) -> str:
    key = runtime.issuer.key if runtime.issuer else None
    assert key is not None
    headers = {"typ": "at+jwt", "kid": key.kid, **header}
    return jwt.encode(payload, key.key, algorithm="EdDSA", headers=headers)


async def test_a_valid_member_token_reads_me(client, runtime, clock, member_id) -> None:
    body = await ask(client, ME, sign(runtime, claims(runtime, clock, member_id)))
    assert "errors" not in body, body
    assert body["data"]["me"]["name"] == "Li Lei"
    assert body["data"]["me"]["tier"] == {"code": "base"}


async def test_issuer_mints_tokens_the_verifier_accepts(
    client, issuer: TokenIssuer, member_id
) -> None:
    body = await ask(client, ME, issuer.mint(PrincipalKind.MEMBER, member_id))
    assert body["data"]["me"]["name"] == "Li Lei"


async def test_missing_token_is_unauthenticated(client, member_id) -> None:
    body = await ask(client, ME, None)
    assert codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


async def test_public_field_ignores_missing_token(client, member_id) -> None:
    body = await ask(client, "{ program { name } }", None)
    assert body == {"data": {"program": {"name": "P"}}}


def _forgeries(runtime: Runtime, clock: FrozenClock, member_id: str) -> dict[str, str]:
    good = claims(runtime, clock, member_id)
    now = int(clock.now().timestamp())
    public = runtime.issuer.key.key.public_key()  # type: ignore[union-attr]
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = f"{b64(json.dumps({'alg': 'none', 'typ': 'at+jwt'}).encode())}.{b64(json.dumps(good).encode())}."
    header_b64, payload_b64, signature = sign(runtime, good).split(".")
    tampered_payload = b64(json.dumps({**good, "sub": "m_someone_else"}).encode())
    other_key = ed25519.Ed25519PrivateKey.generate()
    hs_header = b64(
        json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": runtime.issuer.key.kid}).encode()
    )  # type: ignore[union-attr]
    hs_payload = b64(json.dumps(good).encode())
    import hashlib
    import hmac

    hs_sig = b64(
        hmac.new(public_pem, f"{hs_header}.{hs_payload}".encode(), hashlib.sha256).digest()
    )
    return {
        "alg none": unsigned,
        "HS256 signed with the public key": f"{hs_header}.{hs_payload}.{hs_sig}",
        "expired": sign(runtime, {**good, "iat": now - 1000, "nbf": now - 1000, "exp": now - 31}),
        "not yet valid": sign(runtime, {**good, "nbf": now + 120}),
        "issued in the future": sign(runtime, {**good, "iat": now + 120, "nbf": now - 1}),
        "wrong aud": sign(runtime, {**good, "aud": "another-api"}),
        "wrong iss": sign(runtime, {**good, "iss": "https://evil.example"}),
        "missing sub": sign(runtime, claims(runtime, clock, member_id, sub=None)),
        "missing jti": sign(runtime, claims(runtime, clock, member_id, jti=None)),
        "missing exp": sign(runtime, claims(runtime, clock, member_id, exp=None)),
        "tampered payload": f"{header_b64}.{tampered_payload}.{signature}",
        "unknown kid": sign(runtime, good, kid="not-a-key-we-know"),
        "signed by another key": jwt.encode(
            good,
            other_key,
            algorithm="EdDSA",
            headers={"typ": "at+jwt", "kid": key_id(other_key.public_key())},
        ),
        "signed by another key claiming our kid": jwt.encode(
            good,
            other_key,
            algorithm="EdDSA",
            headers={"typ": "at+jwt", "kid": runtime.issuer.key.kid},  # type: ignore[union-attr]
        ),
        "refresh-type token": sign(runtime, good, typ="rt+jwt"),
        "no typ": jwt.encode(
            good,
            runtime.issuer.key.key,
            algorithm="EdDSA",
            headers={"kid": runtime.issuer.key.kid, "typ": None},
        ),  # type: ignore[union-attr]
        "unknown principal kind": sign(runtime, {**good, "kind": "superuser"}),
        "exp 1e300": sign(runtime, {**good, "exp": 1e300}),
        "exp NaN": sign(runtime, {**good, "exp": float("nan")}),
        "exp Infinity": sign(runtime, {**good, "exp": float("inf")}),
        "iat NaN": sign(runtime, {**good, "iat": float("nan")}),
        "nbf NaN": sign(runtime, {**good, "nbf": float("nan")}),
        "nbf -1e300": sign(runtime, {**good, "nbf": -1e300}),
        "garbage": "not.a.jwt",
        "empty bearer": "",
    }


ATTACKS = [
    "alg none",
    "HS256 signed with the public key",
    "expired",
    "not yet valid",
    "issued in the future",
    "wrong aud",
    "wrong iss",
    "missing sub",
    "missing jti",
    "missing exp",
    "tampered payload",
    "unknown kid",
    "signed by another key",
    "signed by another key claiming our kid",
    "refresh-type token",
    "no typ",
    "unknown principal kind",
    "exp 1e300",
    "exp NaN",
    "exp Infinity",
    "iat NaN",
    "nbf NaN",
    "nbf -1e300",
    "garbage",
    "empty bearer",
]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_attack_token_is_unauthenticated(
    client, runtime, clock, member_id, attack: str
) -> None:
    token = _forgeries(runtime, clock, member_id)[attack]
    body = await ask(client, ME, token)
    assert codes(body) == ["UNAUTHENTICATED"], (attack, body)
    assert body["data"] is None


async def test_leeway_accepts_a_token_expired_less_than_30s_ago(
    client, runtime, clock, member_id
) -> None:
    now = int(clock.now().timestamp())
    token = sign(
        runtime, claims(runtime, clock, member_id, iat=now - 600, nbf=now - 600, exp=now - 20)
    )
    body = await ask(client, ME, token)
    assert body["data"]["me"]["name"] == "Li Lei"


async def test_token_expires_when_the_clock_moves(
    client, issuer: TokenIssuer, clock, member_id
) -> None:
    token = issuer.mint(PrincipalKind.MEMBER, member_id, ttl=timedelta(minutes=15))
    assert "errors" not in await ask(client, ME, token)
    clock.advance(timedelta(minutes=15, seconds=31))
    assert codes(await ask(client, ME, token)) == ["UNAUTHENTICATED"]


async def test_a_verified_token_altered_by_one_character_is_refused(
    client, issuer: TokenIssuer, member_id
) -> None:
    token = issuer.mint(PrincipalKind.MEMBER, member_id)
    assert "errors" not in await ask(client, ME, token)  # verified, then trusted from the cache
    head, payload, signature = token.split(".")
    altered = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert codes(await ask(client, ME, f"{head}.{payload}.{altered}")) == ["UNAUTHENTICATED"]
    assert "errors" not in await ask(client, ME, token)


async def test_partner_and_admin_tokens_are_forbidden_on_member_fields(
    client, issuer, member_id
) -> None:
    for kind in (PrincipalKind.PARTNER, PrincipalKind.ADMIN):
        body = await ask(client, ME, issuer.mint(kind, "ops-1", scopes=["members:read"]))
        assert codes(body) == ["FORBIDDEN"], body


async def test_admin_scope_decides_access_to_admin_fields(client, issuer, member_id) -> None:
    from graphql_schema.ids import to_global_id

    query = f'{{ member(id: "{to_global_id("Member", member_id)}") {{ name }} }}'
    assert codes(await ask(client, query, issuer.mint(PrincipalKind.ADMIN, "ops-1"))) == [
        "FORBIDDEN"
    ]
    assert codes(await ask(client, query, issuer.mint(PrincipalKind.MEMBER, member_id))) == [
        "FORBIDDEN"
    ]
    assert codes(await ask(client, query, None)) == ["UNAUTHENTICATED"]
    body = await ask(
        client, query, issuer.mint(PrincipalKind.ADMIN, "ops-1", scopes=["members:read"])
    )
    assert body == {"data": {"member": {"name": "Li Lei"}}}


async def test_token_of_a_deleted_member_is_unauthenticated(
    client, runtime, issuer, member_id
) -> None:
    token = issuer.mint(PrincipalKind.MEMBER, member_id)
    await runtime.mongo["members"].delete_one({"_id": member_id})
    assert codes(await ask(client, ME, token)) == ["UNAUTHENTICATED"]
