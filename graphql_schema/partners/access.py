"""Who may call the partner API, and how its refusals reach the client (one table, one place).

A partner field needs a partner token with the scope (IsPartner) whose partner is registered and
active, and granted that scope by the registry too (app.partners.registry.granted, on the registry
document read once per request: Context.partner): else FORBIDDEN. Refusals of mutations become userErrors with their code and field; of queries (no
payload to carry them), top-level errors with the same code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strawberry.permission import BasePermission

from app.auth import PrincipalKind
from app.ledger import AccountFrozen, PointsLimitExceeded
from app.members import MemberNotFound as ProfileMissing
from app.partners import (
    NotEnoughPoints,
    OffsetNotOffered,
    PartnerInactive,
    PartnerRefused,
    granted,
)
from app.program import ProgramNotConfigured
from graphql_schema.context import Info
from graphql_schema.errors import ClientError, Forbidden, NotConfigured
from graphql_schema.permissions import require_kind, require_principal
from graphql_schema.user_errors import InsufficientPointsError, UserError, UserErrorCode, user_error

T = TypeVar("T")


async def partner_id(info: Info, scope: str, *or_scopes: str) -> str:
    """The calling partner's id, if its token and the registry both grant `scope` (or one of
    `or_scopes`)."""
    wanted = (scope, *or_scopes)
    principal = require_kind(info, PrincipalKind.PARTNER)
    if not any(principal.has_scope(one) for one in wanted):
        raise Forbidden(f"missing scope {' or '.join(wanted)}")
    try:
        registered = await info.context.partner(principal.subject)
        partner = granted(registered, principal.subject, principal.scopes)
    except PartnerInactive:
        raise Forbidden("this partner is not registered or not active") from None
    if not partner.scopes & set(wanted):
        raise Forbidden(f"the partner is not granted scope {' or '.join(wanted)}")
    return partner.id


class PartnerWithAny(BasePermission):
    """A partner token holding one of `scopes` (a read of what the partner made: points:read, or
    the scope that made it)."""

    def __init__(self, *scopes: str) -> None:
        self.scopes = scopes

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = require_kind(info, PrincipalKind.PARTNER)
        if not any(principal.has_scope(scope) for scope in self.scopes):
            raise Forbidden(f"missing scope {' or '.join(self.scopes)}")
        return True


class PartnerOrAdmin(BasePermission):
    """A partner with `partner_scope` or an admin with `admin_scope` (previewEarn)."""

    def __init__(self, partner_scope: str, admin_scope: str) -> None:
        self.partner_scope = partner_scope
        self.admin_scope = admin_scope

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = require_principal(info)
        if principal.kind is PrincipalKind.ADMIN:
            require_kind(info, PrincipalKind.ADMIN, self.admin_scope)
        else:
            require_kind(info, PrincipalKind.PARTNER, self.partner_scope)
        return True


async def caller_may_preview(info: Info) -> None:
    principal = require_principal(info)
    if principal.kind is PrincipalKind.PARTNER:
        await partner_id(info, "points:earn")


class Refused(ClientError):
    """A query's refusal: extensions.code is the refusal's code (NOT_FOUND, MEMBER_SUSPENDED...)."""

    def __init__(self, code: str, message: str, field: list[str] | None) -> None:
        self.code = "BAD_USER_INPUT" if code == "INVALID_INPUT" else code
        super().__init__(message, field=field)


def user_error_of(exc: PartnerRefused) -> UserError:
    code = UserErrorCode[exc.code]
    field = list(exc.field) if exc.field else None
    if isinstance(exc, NotEnoughPoints):
        return InsufficientPointsError(
            code=code, message=str(exc), field=field, available=exc.available, required=exc.required
        )
    return user_error(code, str(exc), *(field or ()))


async def as_payload(run: Callable[[], Awaitable[T]], failed: Callable[[UserError], T]) -> T:
    """The mutation's result, or its payload with the refusal as a userError."""
    try:
        return await run()
    except PartnerRefused as exc:
        return failed(user_error_of(exc))
    except PointsLimitExceeded as exc:  # the member's account would pass its bound
        return failed(user_error(UserErrorCode.POINTS_LIMIT, str(exc), "input"))
    except AccountFrozen:  # suspended after the member was read: the ledger refuses
        message = "this member is suspended: their points cannot be used"
        return failed(user_error(UserErrorCode.MEMBER_SUSPENDED, message, "input", "member"))
    except (ProgramNotConfigured, OffsetNotOffered) as exc:
        raise NotConfigured(str(exc) or "the program has not been configured yet") from None
    except ProfileMissing:
        return failed(user_error(UserErrorCode.NOT_FOUND, "no such member", "input", "member"))


async def as_query(run: Callable[[], Awaitable[T]], *, arguments: bool = False) -> T:
    """Run a partner query; `arguments` when the field takes its arguments directly, not in an
    `input` object, so an error names `member`, not `input.member`."""
    try:
        return await run()
    except PartnerRefused as exc:
        field = list(exc.field) if exc.field else None
        if arguments and field and field[0] == "input":
            field = field[1:]
        raise Refused(exc.code, str(exc), field) from None
    except (ProgramNotConfigured, OffsetNotOffered) as exc:
        raise NotConfigured(str(exc) or "the program has not been configured yet") from None
