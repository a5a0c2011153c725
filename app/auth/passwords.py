"""Member passwords: argon2id hashes, and a check that costs the same whether or not the member exists.

A hash takes about 0.2 s of CPU and 64 MiB. Hashes run in a pool of their own with one fewer
thread than the CPUs (at least one), and each hash in one lane (argon2's default of four lanes
starts four threads of its own per hash, whatever the pool's size): so the event loop keeps a
core whatever the number of log-ins in flight, the default executor stays free for everything
else, and more hashes at once would not finish any sooner. Callers throttle before hashing.
Hashes stored with four lanes still verify (the parameters are read from the hash).

With JIFEN_ENV=test only (the project's own suite, which signs members up and in by the
hundred), the API hashes at argon2's lightest cost: the same argon2id, the same code path, about
a thousandth of the CPU (a fifth of the API tests' CPU went to hashing). A hash keeps the cost it
was made with, so verifying is unaffected by a later change of environment.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128

HASHES_AT_ONCE = max(1, (os.cpu_count() or 1) - 1)

STANDARD = PasswordHasher(parallelism=1)  # argon2id, t=3, m=64 MiB
LIGHT = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)  # JIFEN_ENV=test only
_hasher = STANDARD
_pool = ThreadPoolExecutor(max_workers=HASHES_AT_ONCE, thread_name_prefix="argon2")
_T = TypeVar("_T")


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the phone is unknown, so a miss takes as long as a wrong password.
    Made by `prepare` when the API starts, not at import: every process that imports this (each
    CLI command, the worker) paid 0.2 s of CPU for a hash most of them never use."""
    return hasher.hash("jifen-dummy-password-for-timing")


async def prepare(*, light: bool = False) -> None:
    """The hashing cost (`light` for JIFEN_ENV=test only), and the dummy hash, made in the pool
    before the first log-in (so the first miss costs what every later one does, and the event
    loop never makes it)."""
    global _hasher
    _hasher = LIGHT if light else STANDARD
    await _in_pool(_dummy_hash, _hasher)


def _verify_dummy(password: str) -> bool:
    _verify(_dummy_hash(_hasher), password)
    return False


class WeakPassword(ValueError):
    """The password breaks the length rule; the message says which."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_LENGTH} characters")


async def _in_pool(work: Callable[..., _T], *arguments: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_pool, work, *arguments)


async def hash_password(password: str) -> str:
    """argon2id, in the hashing pool."""
    return await _in_pool(_hasher.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; an unknown member (no hash) costs one dummy verification."""
    if stored_hash is None:
        return await _in_pool(_verify_dummy, password)
    return await _in_pool(_verify, stored_hash, password)
