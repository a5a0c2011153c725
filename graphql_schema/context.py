"""The per-request context: the runtime's services, who is calling, and per-request caches and loaders."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from app.auth import InvalidToken, Principal
from app.members import Member, get_member
from app.partners import Partner, get_partner
from app.program import Program, current_program
from app.rewards import Reward, get_rewards
from app.runtime import Runtime
from graphql_schema.refusals import as_query

log = logging.getLogger(__name__)


@dataclass
class Context:
    runtime: Runtime
    principal: Principal | None
    auth_failure: str | None = None
    client_address: str | None = None
    connection_params: dict[str, object] | None = (
        None  # graphql-transport-ws connection_init payload
    )
    _rewards: DataLoader[str, Reward | None] | None = field(default=None, init=False)
    _members: dict[str, Member] = field(default_factory=dict, init=False)
    _program: Program | None = field(default=None, init=False)
    _partners: dict[str, Partner | None] = field(default_factory=dict, init=False)

    @property
    def rewards(self) -> DataLoader[str, Reward | None]:
        """One loader per request, made when first asked for (most requests never ask):
        redemption lists ask for their rewards in one query, never one each."""
        if self._rewards is None:
            mongo = self.runtime.mongo

            async def load_rewards(ids: list[str]) -> list[Reward | None]:
                return await get_rewards(mongo, ids)

            self._rewards = DataLoader(load_fn=load_rewards)
        return self._rewards

    async def member(self, member_id: str) -> Member:
        """The member's profile, read at most once per request (MemberNotFound if gone)."""
        if member_id not in self._members:
            self._members[member_id] = await get_member(self.runtime.mongo, member_id)
        return self._members[member_id]

    def remember_member(self, member: Member) -> None:
        self._members[member.id] = member

    async def partner(self, partner_id: str) -> Partner | None:
        """The partner's registry entry, read once per request and never cached longer: a
        suspension refuses the partner's next request, whichever process made it."""
        if partner_id not in self._partners:
            self._partners[partner_id] = await get_partner(self.runtime.mongo, partner_id)
        return self._partners[partner_id]

    def remember_partner(self, partner_id: str, partner: Partner | None) -> None:
        """The registry entry as read by this request with something else (a purchase's member)."""
        self._partners[partner_id] = partner

    async def program(self) -> Program:
        """The program in force, read at most once per request (NOT_CONFIGURED before the first)."""
        if self._program is None:
            self._program = await as_query(lambda: current_program(self.runtime.mongo))
        return self._program


Info = StrawberryInfo[Context, None]


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


async def authenticate(
    runtime: Runtime, authorization: str | None
) -> tuple[Principal | None, str | None]:
    """The caller of a bearer token, or why there is none."""
    token = bearer_token(authorization)
    if token is None:
        return None, "missing bearer token"
    try:
        principal = await runtime.verifier.verify(token)
    except InvalidToken as exc:
        log.info("rejected token: %s", exc)
        return None, "invalid or expired token"
    member_id = principal.member_id
    if (
        member_id is not None
        and principal.issued_at is not None
        and runtime.revocations.refuses(member_id, runtime.program_time(principal.issued_at))
    ):
        return None, "access revoked: sign in again"
    return principal, None


async def build_context(
    runtime: Runtime, authorization: str | None, client_address: str | None = None
) -> Context:
    """Verify the bearer token once per request; a bad one only matters to fields that need one."""
    principal, failure = await authenticate(runtime, authorization)
    return Context(runtime, principal, failure, client_address)
