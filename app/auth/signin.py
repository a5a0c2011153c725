"""Member sign-up and log-in by phone and password; both end in a new session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from app.auth.passwords import check_strength, hash_password, verify_password
from app.auth.sessions import ACCESS_TOKEN_TTL, Session, start_session
from app.auth.throttle import (
    Locked,
    SignUpLimits,
    begin_login,
    begin_sign_up,
    login_failed,
    login_succeeded,
)
from app.auth.tokens import TokenIssuer
from app.clock import Clock
from app.db import Mongo
from app.members import (
    InvalidPhone,
    Member,
    MemberStatus,
    check_name,
    create_member,
    normalise_phone,
)
from app.program import current_program
from app.referrals import InvalidReferralCode, link_referral, referrer_of


class PhoneTaken(Exception):
    """Another member already signed up with this phone."""


class InvalidCredentials(Exception):
    """Unknown phone or wrong password: deliberately one error, so phones cannot be probed."""


class TooManyAttempts(Exception):
    """Too many failed log-ins for this phone or from this address; retry at `locked.until`,
    `retry_after_seconds` from when it was refused."""

    def __init__(self, locked: Locked, now: datetime) -> None:
        super().__init__(f"too many failed log-ins; locked until {locked.until.isoformat()}")
        self.locked = locked
        self.retry_after_seconds = locked.retry_after_seconds(now)


class TooManySignUps(Exception):
    """Too many sign-ups from this address or for this block of phones; retry at `locked.until`,
    `retry_after_seconds` from when it was refused."""

    def __init__(self, locked: Locked, now: datetime) -> None:
        super().__init__(f"too many sign-ups; try again at {locked.until.isoformat()}")
        self.locked = locked
        self.retry_after_seconds = locked.retry_after_seconds(now)


@dataclass(frozen=True)
class SignedIn:
    member: Member
    session: Session


async def sign_up(
    mongo: Mongo,
    clock: Clock,
    issuer: TokenIssuer | None,
    *,
    phone: str,
    password: str,
    name: str,
    client_address: str | None,
    limits: SignUpLimits,
    access_ttl: timedelta = ACCESS_TOKEN_TTL,
    referral_code: str | None = None,
) -> SignedIn:
    """Raises InvalidPhone, WeakPassword, InvalidName, InvalidReferralCode, TooManySignUps or
    PhoneTaken (nothing stored in each case). The cheap checks come first; the limits are taken
    before the hash. A referral code links the new member to its owner (app/referrals)."""
    e164 = normalise_phone(phone)
    check_strength(password)
    name = check_name(name)
    program = await current_program(mongo)
    referrer = None
    if referral_code is not None:
        if program.referrals is None:
            raise InvalidReferralCode("this program takes no referral codes")
        referrer = await referrer_of(mongo, referral_code)
    locked = await begin_sign_up(mongo, clock, e164, client_address, limits)
    if locked is not None:
        raise TooManySignUps(locked, clock.now())
    try:
        member = await create_member(
            mongo,
            clock,
            name=name,
            tier=program.tiers[0].code,
            phone=e164,
            password_hash=await hash_password(password),
        )
    except DuplicateKeyError:
        raise PhoneTaken(e164) from None
    if referrer is not None and referral_code is not None:
        await link_referral(
            mongo, clock, referred_id=member.id, referrer_id=referrer, code=referral_code
        )
    session = await start_session(mongo, clock, issuer, member.id, access_ttl=access_ttl)
    return SignedIn(member, session)


async def log_in(
    mongo: Mongo,
    clock: Clock,
    issuer: TokenIssuer | None,
    *,
    phone: str,
    password: str,
    client_address: str | None,
    access_ttl: timedelta = ACCESS_TOKEN_TTL,
) -> SignedIn:
    """Raises InvalidCredentials or TooManyAttempts, always throttled before any hashing.

    Every failure with a phone that parses costs one argon2 verification, so an unknown phone
    answers as slowly as a wrong password. A phone that does not parse verifies nothing: its
    format is no secret, so answering it fast reveals nothing, and it still counts as a failure
    of the client address.
    """
    try:
        e164: str | None = normalise_phone(phone)
    except InvalidPhone:
        e164 = None
    attempt = await begin_login(mongo, clock, e164, client_address)
    if isinstance(attempt, Locked):
        raise TooManyAttempts(attempt, clock.now())
    if e164 is None:
        await login_failed(mongo, clock, attempt)
        raise InvalidCredentials()
    document = await mongo["members"].find_one({"phone": e164, "status": MemberStatus.ACTIVE.value})
    stored_hash = document.get("password_hash") if document is not None else None
    # Always verify (a dummy hash when the phone is unknown): a miss must cost what a wrong password does.
    matches = await verify_password(stored_hash, password)
    if document is None or not matches:
        await login_failed(mongo, clock, attempt)
        raise InvalidCredentials()
    await login_succeeded(mongo, attempt)
    member = Member.model_validate(document)
    session = await start_session(mongo, clock, issuer, member.id, access_ttl=access_ttl)
    return SignedIn(member, session)
