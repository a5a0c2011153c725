"""The three kinds of caller and the scopes they carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PrincipalKind(StrEnum):
    MEMBER = "member"
    PARTNER = "partner"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a member of the program, a partner system or an operator."""

    kind: PrincipalKind
    subject: str
    scopes: frozenset[str]
    token_id: str
    expires_at: datetime
    issued_at: datetime | None = None

    @property
    def member_id(self) -> str | None:
        return self.subject if self.kind is PrincipalKind.MEMBER else None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def actor_of(principal: Principal) -> str:
    """The audit log's name for a caller ("admin:<subject>"); the CLI's is app.audit.cli_actor."""
    return f"{principal.kind.value}:{principal.subject}"
