"""The per-request context: the runtime's services and who is calling."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from app.auth.principals import Principal
from app.auth.tokens import InvalidToken
from app.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Context:
    runtime: Runtime
    principal: Principal | None
    auth_failure: str | None = None
    loaders: dict[str, Any] = field(default_factory=dict)


Info = StrawberryInfo[Context, None]


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


async def build_context(runtime: Runtime, authorization: str | None) -> Context:
    """Verify the bearer token once per request; a bad one only matters to fields that need one."""
    token = bearer_token(authorization)
    if token is None:
        return Context(runtime, None, "missing bearer token")
    try:
        principal = await runtime.verifier.verify(token)
    except InvalidToken as exc:
        log.info("rejected token: %s", exc)
        return Context(runtime, None, "invalid or expired token")
    return Context(runtime, principal)
