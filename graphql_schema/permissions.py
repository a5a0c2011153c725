"""Who may read a field: members, partners and admins, with scopes. UNAUTHENTICATED vs FORBIDDEN."""

from __future__ import annotations

from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from app.auth import Principal, PrincipalKind
from graphql_schema.context import Info
from graphql_schema.errors import Forbidden, Unauthenticated


def require_principal(info: Info) -> Principal:
    context = info.context
    if context.principal is None:
        raise Unauthenticated(f"authentication required: {context.auth_failure or 'no token'}")
    return context.principal


def caller_member_id(info: Info) -> str:
    """The member id of the caller, on a field that IsMember already guards."""
    principal = require_principal(info)
    assert principal.member_id is not None
    return principal.member_id


def require_kind(info: Info, kind: PrincipalKind, scope: str | None = None) -> Principal:
    """The caller, if of this kind (and holding the scope): else UNAUTHENTICATED or FORBIDDEN."""
    principal = require_principal(info)
    if principal.kind is not kind:
        raise Forbidden(f"this field is for {kind.value} tokens")
    if scope is not None and not principal.has_scope(scope):
        raise Forbidden(f"missing scope {scope}")
    return principal


class _RequiresKind(BasePermission):
    kind: PrincipalKind
    scope: str | None = None

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_kind(info, self.kind, self.scope)
        return True


class IsMember(_RequiresKind):
    kind = PrincipalKind.MEMBER


class IsPartner(_RequiresKind):
    kind = PrincipalKind.PARTNER

    def __init__(self, scope: str) -> None:
        self.scope = scope


class IsAdmin(_RequiresKind):
    kind = PrincipalKind.ADMIN

    def __init__(self, scope: str) -> None:
        self.scope = scope


class MemberMutation(IsMember):
    """A member's mutation: a member token; the request guard counts it against the mutation
    limit (one write per document, not one per field, and none for queries)."""


def admin_scope(scope: str) -> list[FieldExtension]:
    """A field's extensions for operators holding `scope` (FORBIDDEN for anyone else)."""
    return [PermissionExtension(permissions=[IsAdmin(scope)], use_directives=False)]
