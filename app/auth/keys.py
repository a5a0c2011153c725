"""Signing and verification keys: generated into the data folder, read from PEM files, or fetched as JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from app.config import JwtAlgorithm, Settings

log = logging.getLogger(__name__)

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
VerifyKey = PublicKey | bytes


class UnknownKey(Exception):
    """No verification key has the token's `kid`."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public: PublicKey) -> dict[str, str]:
    """The public key as a JWK with the members RFC 7638 orders for the thumbprint."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    numbers = public.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }


def key_id(public: PublicKey) -> str:
    """RFC 7638 thumbprint: a stable `kid` derived from the key itself."""
    canonical = json.dumps(public_jwk(public), separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def generate_private_key(algorithm: JwtAlgorithm) -> PrivateKey:
    if algorithm is JwtAlgorithm.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_pem(data: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the JWT private key must be Ed25519 (EdDSA) or P-256 (ES256)")
    return key


def load_public_pem(data: bytes) -> PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("the JWT public key must be Ed25519 (EdDSA) or P-256 (ES256)")
    return key


def ensure_generated_key(data_dir: Path, algorithm: JwtAlgorithm) -> Path:
    """The embedded default's signing key, made on first start and kept (mode 0600) in the data folder."""
    path = data_dir / "keys" / f"jwt-{algorithm.value.lower()}-private.pem"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and linked into place, so a concurrent start never reads a half-written key.
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem(generate_private_key(algorithm)))
    try:
        os.link(temporary, path)
        log.info("generated a new JWT signing key at %s", path)
    except FileExistsError:
        pass  # another process won the race; its key is the one
    finally:
        temporary.unlink()
    return path


@dataclass(frozen=True)
class SigningKey:
    algorithm: JwtAlgorithm
    kid: str
    key: PrivateKey | bytes


class StaticKeys:
    """Verification keys known at start: one public key or an HS256 secret."""

    def __init__(self, keys: dict[str, VerifyKey]) -> None:
        self._keys = keys

    async def get(self, kid: str | None) -> VerifyKey:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid is None or kid not in self._keys:
            raise UnknownKey(kid)
        return self._keys[kid]


class JwksKeys:
    """Keys from a JWKS URL, cached by `kid`; an unknown `kid` triggers one refetch, so rotation works.

    Fetches run in a thread (never on the event loop) and at most once per `min_refetch_seconds`,
    so a flood of made-up kids cannot turn us into a load generator against the key server. The
    cache is refetched once it is `max_age_seconds` old, so a key the provider removed (rotated
    out, or leaked) stops being trusted; if that refetch fails, the keys already known are kept.
    """

    def __init__(
        self,
        url: str,
        algorithm: JwtAlgorithm,
        *,
        min_refetch_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.algorithm = algorithm
        self.min_refetch_seconds = min_refetch_seconds
        self.max_age_seconds = max_age_seconds
        self.monotonic = monotonic
        self._keys: dict[str, VerifyKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    def _fetch(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310 - configured URL
            data: dict[str, Any] = json.loads(response.read())
            return data

    async def _refresh(self) -> None:
        self.fetch_count += 1
        self._fetched_at = self.monotonic()
        try:
            document = await asyncio.to_thread(self._fetch)
            key_set = PyJWKSet.from_dict(document)
        except (OSError, ValueError, PyJWKSetError, PyJWKError):
            log.warning("could not fetch JWKS from %s", self.url, exc_info=True)
            return
        keys: dict[str, VerifyKey] = {}
        for jwk in key_set.keys:
            if jwk.key_id and _usable(jwk, self.algorithm):
                keys[jwk.key_id] = jwk.key
        self._keys = keys

    def _age(self) -> float:
        return float("inf") if self._fetched_at is None else self.monotonic() - self._fetched_at

    async def get(self, kid: str | None) -> VerifyKey:
        if kid is None:
            raise UnknownKey(None)
        if kid in self._keys and self._age() < self.max_age_seconds:
            return self._keys[kid]
        async with self._lock:
            stale = self._age() >= self.max_age_seconds
            if stale or (kid not in self._keys and self._age() >= self.min_refetch_seconds):
                await self._refresh()
            if kid not in self._keys:
                raise UnknownKey(kid)
            return self._keys[kid]


def _usable(jwk: PyJWK, algorithm: JwtAlgorithm) -> bool:
    expected = {JwtAlgorithm.EDDSA: "OKP", JwtAlgorithm.ES256: "EC"}.get(algorithm)
    return jwk.key_type == expected and jwk.public_key_use in (None, "sig")


KeySource = StaticKeys | JwksKeys


@dataclass(frozen=True)
class KeyMaterial:
    signing: SigningKey | None
    verifying: KeySource


def generates_key(settings: Settings) -> bool:
    """No key is configured: tokens are signed with one generated into the data folder."""
    return settings.jwt_algorithm is not JwtAlgorithm.HS256 and not (
        settings.jwt_private_key_file or settings.jwt_public_key_file or settings.jwks_url
    )


def load_key_material(settings: Settings) -> KeyMaterial:
    """Decide from the settings how tokens are signed (if at all here) and verified."""
    algorithm = settings.jwt_algorithm
    if algorithm is JwtAlgorithm.HS256:
        assert settings.jwt_hs256_secret is not None  # checked by Settings
        secret = settings.jwt_hs256_secret.encode()
        return KeyMaterial(SigningKey(algorithm, "hs256", secret), StaticKeys({"hs256": secret}))

    private_path = settings.jwt_private_key_file
    if generates_key(settings):
        private_path = ensure_generated_key(settings.data_dir, algorithm)

    signing: SigningKey | None = None
    if private_path is not None:
        private = load_private_pem(private_path.read_bytes())
        _check_algorithm(private.public_key(), algorithm)
        signing = SigningKey(algorithm, key_id(private.public_key()), private)

    verifying: KeySource
    if settings.jwks_url is not None:
        verifying = JwksKeys(
            settings.jwks_url, algorithm, max_age_seconds=settings.jwks_max_age_seconds
        )
    elif settings.jwt_public_key_file is not None:
        public = load_public_pem(settings.jwt_public_key_file.read_bytes())
        _check_algorithm(public, algorithm)
        verifying = StaticKeys({key_id(public): public})
    else:
        assert signing is not None and not isinstance(signing.key, bytes)
        public = signing.key.public_key()
        verifying = StaticKeys({signing.kid: public})
    return KeyMaterial(signing, verifying)


def _check_algorithm(public: PublicKey, algorithm: JwtAlgorithm) -> None:
    wants_ed25519 = algorithm is JwtAlgorithm.EDDSA
    if isinstance(public, ed25519.Ed25519PublicKey) != wants_ed25519:
        raise ValueError(
            f"the configured JWT key does not fit JIFEN_JWT_ALGORITHM={algorithm.value}"
        )
