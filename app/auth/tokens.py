"""Access tokens (RFC 9068 style JWTs): minting with the configured key, and strict verification."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from app.auth.keys import KeyMaterial, KeySource, SigningKey, UnknownKey
from app.auth.principals import Principal, PrincipalKind
from app.clock import Clock
from app.config import JwtAlgorithm, Settings

ACCESS_TOKEN_TYPE = "at+jwt"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "iss", "jti")
LAST_INSTANT = datetime.max.replace(tzinfo=UTC).timestamp()  # what a datetime can hold
VERIFIED_CACHE_SIZE = 10_000
# A cached verification is trusted this long at most, so a key removed from the source stops
# being honoured soon even for tokens that live longer.
VERIFIED_CACHE_SECONDS = 300
# A base64url segment of a compact JWS, with at most two `=` of padding (some issuers pad).
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class InvalidToken(Exception):
    """The token cannot be trusted; the message is for logs, clients only learn UNAUTHENTICATED."""


class TokenIssuer:
    """Mints access tokens with the service's signing key."""

    def __init__(self, key: SigningKey, *, issuer: str, audience: str, clock: Clock) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.clock = clock

    def mint(
        self,
        kind: PrincipalKind,
        subject: str,
        *,
        scopes: Iterable[str] = (),
        ttl: timedelta = timedelta(minutes=15),
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        now = self.clock.now()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            "kind": kind.value,
        }
        scope_list = sorted(set(scopes))
        if scope_list:
            claims["scope"] = " ".join(scope_list)
        if extra_claims:
            claims.update(extra_claims)
        headers = {"typ": ACCESS_TOKEN_TYPE, "kid": self.key.kid}
        return jwt.encode(claims, self.key.key, algorithm=self.key.algorithm.value, headers=headers)


@dataclass(frozen=True, slots=True)
class _Verified:
    trusted_until: float
    claims: dict[str, Any]
    kid: str | None
    key: Any


class TokenVerifier:
    """Verifies access tokens: pinned algorithm, required claims, `typ` at+jwt, leeway, injected clock.

    A signature check (EdDSA, with PyJWT's parsing around it) is most of what a small request
    costs, and a client sends the same token with every request until it expires. So the claims
    of a verified token are kept, keyed by the token's SHA-256 digest, in a bounded LRU until
    the token expires (VERIFIED_CACHE_SECONDS at most); the time claims are checked against the
    injected clock on every request, cached or not, and so is the key: a cached token is trusted
    only while the key source still gives the very key that verified it (a key rotated out of a
    JWKS stops being trusted when the source's cache does).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        algorithm: JwtAlgorithm,
        issuer: str,
        audience: str,
        leeway_seconds: int,
        clock: Clock,
    ) -> None:
        self.keys = keys
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.clock = clock
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._signature = get_default_algorithms()[algorithm.value]

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            if self.clock.now().timestamp() < cached.trusted_until and await self._still(cached):
                self._verified.move_to_end(digest)
                return self._principal(cached.claims)
            del self._verified[digest]
        claims, kid, key = await self._verify_signed(token)
        principal = self._principal(claims)
        self._remember(digest, claims, kid, key)
        return principal

    async def _still(self, cached: _Verified) -> bool:
        """Whether the key source still gives the key that verified the cached token."""
        try:
            return await self.keys.get(cached.kid) is cached.key
        except UnknownKey:
            return False

    def _remember(self, digest: bytes, claims: dict[str, Any], kid: str | None, key: Any) -> None:
        trusted_until = min(
            claims["exp"] + self.leeway,
            self.clock.now().timestamp() + VERIFIED_CACHE_SECONDS,
        )
        self._verified[digest] = _Verified(trusted_until, claims, kid, key)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    async def _verify_signed(self, token: str) -> tuple[dict[str, Any], str | None, Any]:
        """The claims of a token whose signature is the key's, parsed once (see _parse)."""
        header, signing_input, payload, signature = _parse(token)
        if header.get("alg") != self.algorithm.value:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYPE, "application/at+jwt"):
            raise InvalidToken(f"token type {header.get('typ')!r} is not an access token")
        if "crit" in header or "b64" in header:  # no JWS extension is understood here
            raise InvalidToken("token rejected: critical header parameters are not supported")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        try:
            key = await self.keys.get(kid)
        except UnknownKey:
            raise InvalidToken(f"unknown key id {kid!r}") from None
        try:
            verified = self._signature.verify(
                signing_input, self._signature.prepare_key(key), signature
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(f"token rejected: {exc}") from None
        if not verified:
            raise InvalidToken("token rejected: Signature verification failed")
        claims = _json_object(payload, "payload")
        # What PyJWT's decode checked (the time claims are checked by _principal, on the
        # injected clock).
        missing = [name for name in REQUIRED_CLAIMS if claims.get(name) is None]
        if missing:
            raise InvalidToken(f'token rejected: Token is missing the "{missing[0]}" claim')
        audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
        if (
            not isinstance(audiences, list)
            or not all(isinstance(audience, str) for audience in audiences)
            or self.audience not in audiences
        ):
            raise InvalidToken("token rejected: Audience doesn't match")
        if claims["iss"] != self.issuer:
            raise InvalidToken("token rejected: Invalid issuer")
        if not isinstance(claims["jti"], str):
            raise InvalidToken("token rejected: JWT ID must be a string")
        return claims, kid, key

    def _principal(self, claims: dict[str, Any]) -> Principal:
        now = self.clock.now().timestamp()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
        if not all(_is_instant(v) for v in (exp, iat, nbf)):
            raise InvalidToken("time claims must be seconds between 1970 and 9999")
        if exp <= now - self.leeway:
            raise InvalidToken("token expired")
        if nbf > now + self.leeway or iat > now + self.leeway:
            raise InvalidToken("token not yet valid")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("sub must be a non-empty string")
        try:
            kind = PrincipalKind(claims.get("kind", ""))
        except ValueError:
            raise InvalidToken(f"unknown principal kind {claims.get('kind')!r}") from None
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("scope must be a space-separated string")
        return Principal(
            kind=kind,
            subject=subject,
            scopes=frozenset(scope.split()),
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(exp, UTC),
            issued_at=datetime.fromtimestamp(iat, UTC),
        )


def _parse(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """A compact JWS's header, signing input, payload and signature, each segment decoded once.

    PyJWT's decode parsed a token twice (the header alone first, for its `kid`) and checked each
    segment's alphabet one character at a time in Python: together three times the CPU of the
    Ed25519 check itself, on every request with a new token. The same rules hold here: base64url
    with at most two `=` of padding, canonical (no stray bits), the header a JSON object.
    """
    head, _, rest = token.partition(".")
    body, _, signature = rest.partition(".")
    header = _json_object(_segment(head, "header"), "header")
    payload, signed = _segment(body, "payload"), _segment(signature, "signature")
    return header, f"{head}.{body}".encode(), payload, signed  # ASCII, as _segment checked


def _segment(text: str, name: str) -> bytes:
    stripped = text.rstrip("=")
    padded = len(text) != len(stripped)
    if not _BASE64URL.fullmatch(text) or len(stripped) % 4 == 1 or (padded and len(text) % 4 != 0):
        raise InvalidToken(f"malformed token: invalid {name}")
    decoded = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped.encode():
        raise InvalidToken(f"malformed token: invalid {name}")
    return decoded


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # also UnicodeDecodeError
        raise InvalidToken(f"malformed token: the {name} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"malformed token: the {name} is not a JSON object")
    return value


def _is_instant(value: object) -> bool:
    """A number a datetime can hold: NaN compares false to everything and 1e300 overflows."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return 0 <= value <= LAST_INSTANT  # False for NaN


def build_token_services(
    settings: Settings, keys: KeyMaterial, clock: Clock
) -> tuple[TokenIssuer | None, TokenVerifier]:
    issuer = None
    if keys.signing is not None:
        issuer = TokenIssuer(
            keys.signing, issuer=settings.jwt_issuer, audience=settings.jwt_audience, clock=clock
        )
    verifier = TokenVerifier(
        keys.verifying,
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
    )
    return issuer, verifier
