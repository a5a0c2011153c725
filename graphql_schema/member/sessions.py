"""Member sign-in: sign up, log in, refresh and log out. No token needed; each returns a session."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from app.auth import Session as SessionModel
from app.auth import (
    SignedIn,
    SignUpLimits,
    end_session,
    log_in,
    refresh_session,
    sign_up,
)
from graphql_schema.context import Info
from graphql_schema.errors import NotConfigured
from graphql_schema.member.members import Member
from graphql_schema.refusals import as_payload
from graphql_schema.user_errors import UserError


@strawberry.type(
    description="Send accessToken as `Authorization: Bearer`; trade refreshToken for a new pair."
)
class Session:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str = strawberry.field(
        description="Single use: each refresh returns the next one."
    )
    refresh_token_expires_at: datetime

    @classmethod
    def from_model(cls, session: SessionModel) -> Session:
        return cls(
            access_token=session.access_token,
            access_token_expires_at=session.access_token_expires_at,
            refresh_token=session.refresh_token,
            refresh_token_expires_at=session.refresh_token_expires_at,
        )


@strawberry.type
class SessionPayload:
    session: Session | None
    member: Member | None
    user_errors: list[UserError]


@strawberry.input
class SignUpInput:
    phone: str = strawberry.field(
        description="E.164 (+8613800138000) or an 11-digit mainland mobile."
    )
    password: str = strawberry.field(description="8 to 128 characters.")
    name: str
    referral_code: str | None = strawberry.field(
        default=None, description="The code of the member who referred them (8 characters)."
    )


@strawberry.input
class LogInInput:
    phone: str
    password: str


@strawberry.input
class RefreshSessionInput:
    refresh_token: str


@strawberry.input
class LogOutInput:
    refresh_token: str


@strawberry.type
class LogOutPayload:
    user_errors: list[UserError]


def _access_ttl(info: Info) -> timedelta:
    """JIFEN_ACCESS_TOKEN_TTL_SECONDS; 15 minutes unless configured otherwise."""
    return timedelta(seconds=info.context.runtime.settings.access_token_ttl_seconds)


def _require_signing(info: Info) -> None:
    if info.context.runtime.issuer is None:
        raise NotConfigured("this server has no signing key, so it cannot sign members in")


def _signed_in(info: Info, signed_in: SignedIn) -> SessionPayload:
    info.context.remember_member(signed_in.member)
    return SessionPayload(
        session=Session.from_model(signed_in.session),
        member=Member.of(signed_in.member.id),
        user_errors=[],
    )


def _failed(errors: list[UserError]) -> SessionPayload:
    return SessionPayload(session=None, member=None, user_errors=errors)


def _sign_up_limits(info: Info) -> SignUpLimits:
    settings = info.context.runtime.settings
    return SignUpLimits(
        per_address=settings.sign_up_limit_per_address,
        per_phone_prefix=settings.sign_up_limit_per_phone_prefix,
    )


async def sign_up_mutation(info: Info, input: SignUpInput) -> SessionPayload:
    _require_signing(info)
    runtime = info.context.runtime

    async def run() -> SessionPayload:
        signed_in = await sign_up(
            runtime.mongo,
            runtime.clock,
            runtime.issuer,
            phone=input.phone,
            password=input.password,
            name=input.name,
            client_address=info.context.client_address,
            limits=_sign_up_limits(info),
            access_ttl=_access_ttl(info),
            referral_code=input.referral_code,
        )
        return _signed_in(info, signed_in)

    return await as_payload(run, _failed)


async def log_in_mutation(info: Info, input: LogInInput) -> SessionPayload:
    _require_signing(info)
    runtime = info.context.runtime

    async def run() -> SessionPayload:
        signed_in = await log_in(
            runtime.mongo,
            runtime.clock,
            runtime.issuer,
            phone=input.phone,
            password=input.password,
            client_address=info.context.client_address,
            access_ttl=_access_ttl(info),
        )
        return _signed_in(info, signed_in)

    return await as_payload(run, _failed)


async def refresh_session_mutation(info: Info, input: RefreshSessionInput) -> SessionPayload:
    _require_signing(info)
    runtime = info.context.runtime

    async def run() -> SessionPayload:
        session = await refresh_session(
            runtime.mongo,
            runtime.clock,
            runtime.issuer,
            input.refresh_token,
            access_ttl=_access_ttl(info),
        )
        member = Member.of(session.member_id)
        return SessionPayload(session=Session.from_model(session), member=member, user_errors=[])

    return await as_payload(run, _failed)


async def log_out_mutation(info: Info, input: LogOutInput) -> LogOutPayload:
    """Ends the refresh token's whole family; answers the same for an unknown token."""
    runtime = info.context.runtime
    await end_session(runtime.mongo, runtime.clock, input.refresh_token)
    return LogOutPayload(user_errors=[])


sign_up_field = strawberry.mutation(
    resolver=sign_up_mutation, description="Create a member account and sign in."
)
log_in_field = strawberry.mutation(
    resolver=log_in_mutation,
    description="Sign in with phone and password. Five failures in 15 minutes lock the phone for 15 minutes.",
)
refresh_session_field = strawberry.mutation(
    resolver=refresh_session_mutation,
    description="A new access token and the next refresh token; reusing a refresh token ends its family.",
)
log_out_field = strawberry.mutation(
    resolver=log_out_mutation, description="End the session the refresh token belongs to."
)
