"""`openConsoleLink`: the operator console trades a one-time link printed by
`jifen token admin ... --link` for an admin token (app/console_links.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from app.auth import PrincipalKind
from app.console_links import LinkInvalid, open_link
from graphql_schema.context import Info
from graphql_schema.errors import NotConfigured
from graphql_schema.refusals import ARGUMENTS, as_payload
from graphql_schema.user_errors import UserError


@strawberry.type
class OpenConsoleLinkPayload:
    access_token: str | None = strawberry.field(description="An admin token; null on an error.")
    expires_at: datetime | None
    scopes: list[str]
    user_errors: list[UserError]


async def open_console_link(info: Info, code: str) -> OpenConsoleLinkPayload:
    runtime = info.context.runtime
    if runtime.issuer is None:
        raise NotConfigured("this server has no signing key, so it cannot sign operators in")
    issuer = runtime.issuer

    async def run() -> OpenConsoleLinkPayload:
        grant = await open_link(runtime.mongo, runtime.clock, code)
        if grant is None:
            raise LinkInvalid("this link is unknown, already used or expired: ask for a new one")
        ttl = timedelta(seconds=grant.ttl_seconds)
        token = issuer.mint(PrincipalKind.ADMIN, grant.subject, scopes=grant.scopes, ttl=ttl)
        return OpenConsoleLinkPayload(
            access_token=token,
            expires_at=issuer.clock.now() + ttl,  # the token's, on the real clock
            scopes=list(grant.scopes),
            user_errors=[],
        )

    return await as_payload(run, _failed, ARGUMENTS)


def _failed(errors: list[UserError]) -> OpenConsoleLinkPayload:
    return OpenConsoleLinkPayload(access_token=None, expires_at=None, scopes=[], user_errors=errors)


open_console_link_field = strawberry.mutation(
    resolver=open_console_link,
    description="Operators: trade a one-time console link (`jifen token admin ... --link`) for an "
    "admin token. A link opens once, within 10 minutes; otherwise LINK_INVALID.",
)
