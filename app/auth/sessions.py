"""Member sessions: a 15-minute access token plus an opaque refresh token, rotated on every use.

Refresh tokens are random strings stored only as their sha256 in `refresh_tokens`. Each use
marks the token used and issues the next one of the same family; presenting a used token again
means it leaked (or a client raced itself), so the whole family is revoked and the member signs in
again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.auth.principals import PrincipalKind
from app.auth.tokens import TokenIssuer
from app.clock import Clock
from app.db import Mongo, purge_at
from app.members import MemberStatus

ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=30)


@dataclass(frozen=True)
class Session:
    member_id: str
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime


class InvalidRefreshToken(Exception):
    """Unknown, expired, revoked or reused; the client must sign in again."""


class SigningUnavailable(Exception):
    """This process has no signing key (it only verifies tokens), so it cannot sign members in."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _issue_refresh_token(
    mongo: Mongo, clock: Clock, member_id: str, family_id: str
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    expires_at = now + REFRESH_TOKEN_TTL
    await mongo["refresh_tokens"].insert_one(
        {
            "token_hash": _digest(token),
            "family_id": family_id,
            "member_id": member_id,
            "created_at": now,
            "expires_at": expires_at,
            "purge_at": purge_at(REFRESH_TOKEN_TTL),
            "used_at": None,
            "revoked_at": None,
        }
    )
    return token, expires_at


def _mint(issuer: TokenIssuer | None, member_id: str, ttl: timedelta) -> tuple[str, datetime]:
    if issuer is None:
        raise SigningUnavailable("no JWT signing key is configured")
    token = issuer.mint(PrincipalKind.MEMBER, member_id, ttl=ttl)
    # The token's own expiry: on the issuer's clock, the real one even under a sandbox clock.
    return token, issuer.clock.now() + ttl


async def start_session(
    mongo: Mongo,
    clock: Clock,
    issuer: TokenIssuer | None,
    member_id: str,
    *,
    access_ttl: timedelta = ACCESS_TOKEN_TTL,
) -> Session:
    """A new family: after sign-up or log-in."""
    access, access_expires = _mint(issuer, member_id, access_ttl)
    family_id = secrets.token_hex(12)
    refresh, refresh_expires = await _issue_refresh_token(mongo, clock, member_id, family_id)
    return Session(member_id, access, access_expires, refresh, refresh_expires)


async def refresh_session(
    mongo: Mongo,
    clock: Clock,
    issuer: TokenIssuer | None,
    refresh_token: str,
    *,
    access_ttl: timedelta = ACCESS_TOKEN_TTL,
) -> Session:
    """Trade a refresh token for a new pair; a reused one revokes its whole family."""
    now = clock.now()
    tokens = mongo["refresh_tokens"]
    # One atomic claim: of two requests racing with the same token, only one gets it.
    claimed = await tokens.find_one_and_update(
        {
            "token_hash": _digest(refresh_token),
            "used_at": None,
            "revoked_at": None,
            "expires_at": {"$gt": now},
        },
        {"$set": {"used_at": now}},
    )
    if claimed is None:
        known = await tokens.find_one({"token_hash": _digest(refresh_token)})
        if known is not None and known["used_at"] is not None:
            await revoke_family(mongo, clock, known["family_id"])
        raise InvalidRefreshToken("the refresh token is not valid")
    member_id: str = claimed["member_id"]
    access, access_expires = _mint(issuer, member_id, access_ttl)
    refresh, refresh_expires = await _issue_refresh_token(
        mongo, clock, member_id, claimed["family_id"]
    )
    # After the new token exists: a suspension committed later revokes it, one committed
    # earlier is seen here (app/members/access.py).
    member = await mongo["members"].find_one({"_id": member_id}, {"status": 1})
    if member is None or member.get("status", MemberStatus.ACTIVE.value) != MemberStatus.ACTIVE:
        await revoke_family(mongo, clock, claimed["family_id"])
        raise InvalidRefreshToken("the refresh token is not valid")
    return Session(member_id, access, access_expires, refresh, refresh_expires)


async def revoke_family(mongo: Mongo, clock: Clock, family_id: str) -> None:
    await mongo["refresh_tokens"].update_many(
        {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": clock.now()}}
    )


async def end_session(mongo: Mongo, clock: Clock, refresh_token: str) -> None:
    """Log out: the token's family stops working. An unknown token is quietly ignored."""
    known = await mongo["refresh_tokens"].find_one({"token_hash": _digest(refresh_token)})
    if known is not None:
        await revoke_family(mongo, clock, known["family_id"])


async def forget_sessions(mongo: Mongo, member_id: str) -> None:
    """An erased member's refresh tokens go (revoked or not, they only name the member)."""
    await mongo["refresh_tokens"].delete_many({"member_id": member_id})
