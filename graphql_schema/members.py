"""The member as the app sees them: profile and tier (balance and history join as the ledger lands)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.permission import PermissionExtension

from app.members.models import Member as MemberModel
from app.members.service import MemberNotFound, get_member
from app.program.service import get_program
from graphql_schema.context import Info
from graphql_schema.errors import Unauthenticated
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.permissions import IsAdmin, IsMember, require_principal
from graphql_schema.program import Tier


@strawberry.type
class Member:
    model: strawberry.Private[MemberModel]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Member", self.model.id))

    @strawberry.field
    def member_no(self) -> str:
        return self.model.member_no

    @strawberry.field
    def name(self) -> str:
        return self.model.name

    @strawberry.field
    def phone(self) -> str | None:
        return self.model.phone

    @strawberry.field
    def email(self) -> str | None:
        return self.model.email

    @strawberry.field
    def birthday(self) -> date | None:
        return self.model.birthday

    @strawberry.field
    def joined_at(self) -> datetime:
        return self.model.joined_at

    @strawberry.field
    async def tier(self, info: Info) -> Tier:
        program = await get_program(info.context.runtime.mongo)
        return Tier.from_model(program.tier(self.model.tier))


async def resolve_me(info: Info) -> Member:
    principal = require_principal(info)
    assert principal.member_id is not None
    try:
        member = await get_member(info.context.runtime.mongo, principal.member_id)
    except MemberNotFound:
        # A validly signed token for a member that no longer exists: treat as signed out.
        raise Unauthenticated("the member of this token does not exist") from None
    return Member(model=member)


async def resolve_member(info: Info, id: strawberry.ID) -> Member | None:
    _, raw_id = from_global_id(id, "Member")
    try:
        return Member(model=await get_member(info.context.runtime.mongo, raw_id))
    except MemberNotFound:
        return None


me_field = strawberry.field(
    resolver=resolve_me,
    permission_classes=[IsMember],
    description="The member the access token belongs to.",
)
member_field = strawberry.field(
    resolver=resolve_member,
    extensions=[PermissionExtension(permissions=[IsAdmin("members:read")], use_directives=False)],
    description="Operators: one member by id (admin scope members:read).",
)
