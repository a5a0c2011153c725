"""Member passwords: argon2id hashes, and a check that costs the same whether or not the member exists."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128

_hasher = PasswordHasher()
# Verified against when the phone is unknown, so a miss takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("jifen-dummy-password-for-timing")


class WeakPassword(ValueError):
    """The password breaks the length rule; the message says which."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")


async def hash_password(password: str) -> str:
    """argon2id; run in a thread because a hash takes tens of milliseconds of CPU."""
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; an unknown member (no hash) costs one dummy verification."""
    if stored_hash is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(_verify, stored_hash, password)
