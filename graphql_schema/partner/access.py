"""Who may call the partner API, and how its refusals reach the client (one table, one place).

A partner field needs a partner token with the scope (IsPartner) whose partner is registered and
active, and granted that scope by the registry too (app.partners.registry.granted, on the registry
document read once per request: Context.partner, or with the member a purchase names in the same
command: partner_and_member): else FORBIDDEN. Refusals go through
graphql_schema.refusals like every field's, told where the partner API names the member.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.auth import Principal, PrincipalKind
from app.members import Member
from app.partners import (
    MemberRef,
    Partner,
    PartnerInactive,
    PartnerRefused,
    granted,
)
from app.partners import partner_and_member as read_partner_and_member
from graphql_schema.context import Info
from graphql_schema.errors import Forbidden
from graphql_schema.permissions import require_kind, require_principal
from graphql_schema.refusals import Where


async def partner_id(info: Info, scope: str, *or_scopes: str) -> str:
    """The calling partner's id, if its token and the registry both grant `scope` (or one of
    `or_scopes`)."""
    wanted = (scope, *or_scopes)
    principal = _token_grants(info, wanted)
    return _registry_grants(principal, await info.context.partner(principal.subject), wanted)


async def partner_and_member(
    info: Info, scope: str, member: MemberRef
) -> tuple[str, Member | PartnerRefused]:
    """`partner_id`, with the member `member` names read in the same command as the registry
    entry (or the refusal that names none, to raise once the partner is let in)."""
    principal = _token_grants(info, (scope,))
    registered, found = await read_partner_and_member(
        info.context.runtime.mongo, principal.subject, member
    )
    info.context.remember_partner(principal.subject, registered)
    return _registry_grants(principal, registered, (scope,)), found


def _token_grants(info: Info, wanted: tuple[str, ...]) -> Principal:
    principal = require_kind(info, PrincipalKind.PARTNER)
    if not any(principal.has_scope(one) for one in wanted):
        raise Forbidden(f"missing scope {' or '.join(wanted)}")
    return principal


def _registry_grants(
    principal: Principal, registered: Partner | None, wanted: tuple[str, ...]
) -> str:
    try:
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


async def caller_may_preview(info: Info, member: MemberRef) -> Member | PartnerRefused | None:
    """Refuse a caller who may not preview; a partner's registry entry is read with the member
    `member` names, which it returns (None for an admin: the preview reads it)."""
    principal = require_principal(info)
    if principal.kind is not PrincipalKind.PARTNER:
        return None
    return (await partner_and_member(info, "points:earn", member))[1]


PARTNER = Where(member=("member",), account=(), partner=True)
PARTNER_ARGUMENTS = Where(under=(), member=("member",), account=(), partner=True)
"""Where the partner API names the member: `input.member`, or `member` for a query that takes its
arguments directly; points past the account's bound are the whole input's fault."""
