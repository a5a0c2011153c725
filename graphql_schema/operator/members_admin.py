"""Operators manage members (admin scopes members:read, members:write): `members(search)`,
createMember, updateMember, suspendMember, reactivateMember, eraseMember, exportMember and
setMemberTier.
The rules live in app/members/admin.py and app/members/erase.py; this maps them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types.unset import UNSET

from app.auth import PrincipalKind, actor_of
from app.members import (
    InvalidProfile,
    MemberNotFound,
    NewMember,
    admin_create_member,
    admin_update_member,
    export_member,
    search_members,
    set_member_status,
    set_member_tier,
)
from app.members import Member as MemberModel
from app.privacy import erase_member
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id
from graphql_schema.member.members import Member
from graphql_schema.permissions import admin_scope, require_kind
from graphql_schema.refusals import Where, as_payload
from graphql_schema.relay import KEY, Connection, Cursor, connection, page_size
from graphql_schema.user_errors import UserError

READ, WRITE = "members:read", "members:write"
MEMBERS = Cursor("member-search", (KEY, KEY))  # (name, id)


@strawberry.input(description="A new member; the tier defaults to the program's first.")
class CreateMemberInput:
    name: str
    phone: str | None = None
    email: str | None = None
    birthday: date | None = None
    tier: str | None = None
    idempotency_key: str


@strawberry.input(description="Fields left out stay; email and birthday set to null are cleared.")
class UpdateMemberInput:
    member_id: strawberry.ID
    name: str | None = UNSET
    phone: str | None = UNSET
    email: str | None = UNSET
    birthday: date | None = UNSET


@strawberry.input(description="Which member and why (the reason is kept in the audit log).")
class MemberStatusInput:
    member_id: strawberry.ID
    reason: str


@strawberry.input(description="A tier set by hand: a status match, a complimentary upgrade.")
class SetMemberTierInput:
    member_id: strawberry.ID
    tier: str = strawberry.field(description="A tier code of the program.")
    until: datetime = strawberry.field(
        description="The tier holds at least until then (after now, within three years); then "
        "the member's qualifying points decide again."
    )
    reason: str = strawberry.field(
        description="Why, 1 to 500 characters: kept in the tier history and the audit log."
    )
    idempotency_key: str = strawberry.field(description="A retry with it returns the first.")


@strawberry.input
class ExportMemberInput:
    member_id: strawberry.ID


@strawberry.type
class MemberAdminPayload:
    member: Member | None
    user_errors: list[UserError]


@strawberry.type
class ExportMemberPayload:
    data: JSON | None = strawberry.field(
        description="profile, consents, devices, ledger, redemptions, notifications."
    )
    user_errors: list[UserError]


MemberConnection = Connection[Member]


ADMIN = Where(member=("member_id",))


def _raw(member_id: strawberry.ID) -> str:
    try:
        return from_global_id(member_id, "Member")[1]
    except InvalidInput:
        raise MemberNotFound(member_id) from None


async def _member_write(
    info: Info, run: Callable[[str], Awaitable[MemberModel]]
) -> MemberAdminPayload:
    """Run one write as the calling operator; the member it leaves, or the typed refusal."""
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))

    async def written() -> MemberAdminPayload:
        member = await run(actor)
        info.context.remember_member(member)
        return MemberAdminPayload(member=Member.of(member.id), user_errors=[])

    return await as_payload(
        written, lambda e: MemberAdminPayload(member=None, user_errors=e), ADMIN
    )


async def resolve_members(
    info: Info, search: str, first: int = 20, after: str | None = None
) -> MemberConnection:
    position = MEMBERS.decode(after) if after is not None else None
    try:
        found, more = await search_members(
            info.context.runtime.mongo, search, first=page_size(first), after=position
        )
    except InvalidProfile as exc:
        raise InvalidInput(str(exc), field="search") from None
    for member in found:
        info.context.remember_member(member)
    return connection(
        found,
        has_next=more,
        after=after,
        cursor=lambda m: MEMBERS.encode(m.name, m.id),
        node=lambda m: Member.of(m.id),
    )


async def create_member_mutation(info: Info, input: CreateMemberInput) -> MemberAdminPayload:
    runtime = info.context.runtime
    new = NewMember(input.name, input.phone, input.email, input.birthday, input.tier)
    return await _member_write(
        info,
        lambda actor: admin_create_member(
            runtime.mongo, runtime.clock, new, idempotency_key=input.idempotency_key, actor=actor
        ),
    )


async def update_member_mutation(info: Info, input: UpdateMemberInput) -> MemberAdminPayload:
    runtime = info.context.runtime
    fields = {
        "name": input.name,
        "phone": input.phone,
        "email": input.email,
        "birthday": input.birthday,
    }
    changes: dict[str, object] = {k: v for k, v in fields.items() if v is not UNSET}
    return await _member_write(
        info,
        lambda actor: admin_update_member(
            runtime.mongo, runtime.clock, _raw(input.member_id), changes, actor=actor
        ),
    )


def _status(active: bool) -> Callable[[Info, MemberStatusInput], Awaitable[MemberAdminPayload]]:
    async def mutation(info: Info, input: MemberStatusInput) -> MemberAdminPayload:
        runtime = info.context.runtime
        payload = await _member_write(
            info,
            lambda actor: set_member_status(
                runtime.mongo,
                runtime.clock,
                _raw(input.member_id),
                active,
                reason=input.reason,
                actor=actor,
            ),
        )
        if not active:
            _revoked(info, payload)
        return payload

    return mutation


def _revoked(info: Info, payload: MemberAdminPayload) -> None:
    """This process refuses the member's tokens at once; the others when their hub delivers the
    ACCESS_REVOKED event (app/members/access.py)."""
    if payload.member is not None:
        runtime = info.context.runtime
        runtime.revocations.record(payload.member.member_id, runtime.clock.now())


async def erase_member_mutation(info: Info, input: MemberStatusInput) -> MemberAdminPayload:
    runtime = info.context.runtime
    payload = await _member_write(
        info,
        lambda actor: erase_member(
            runtime.mongo, runtime.clock, _raw(input.member_id), reason=input.reason, actor=actor
        ),
    )
    _revoked(info, payload)
    return payload


async def set_member_tier_mutation(info: Info, input: SetMemberTierInput) -> MemberAdminPayload:
    runtime = info.context.runtime

    async def write(actor: str) -> MemberModel:
        program = await info.context.program()
        member, _ = await set_member_tier(
            runtime.mongo,
            runtime.clock,
            program,
            _raw(input.member_id),
            tier=input.tier,
            until=input.until,
            note=input.reason,
            actor=actor,
            idempotency_key=input.idempotency_key,
        )
        return member

    return await _member_write(info, write)


async def export_member_mutation(info: Info, input: ExportMemberInput) -> ExportMemberPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, READ))
    runtime = info.context.runtime

    async def run() -> ExportMemberPayload:
        data = await export_member(runtime.mongo, runtime.clock, _raw(input.member_id), actor=actor)
        return ExportMemberPayload(data=JSON(data), user_errors=[])

    return await as_payload(run, lambda e: ExportMemberPayload(data=None, user_errors=e), ADMIN)


members_field = strawberry.field(
    resolver=resolve_members,
    extensions=admin_scope(READ),
    description="Operators: members by member number, phone, or name prefix (in name order) "
    "(admin scope members:read).",
)
create_member_field = strawberry.mutation(
    resolver=create_member_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: create a member (members:write); a replayed key returns the first.",
)
update_member_field = strawberry.mutation(
    resolver=update_member_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: change a member's name, phone, email or birthday (members:write).",
)
suspend_member_field = strawberry.mutation(
    resolver=_status(False),
    extensions=admin_scope(WRITE),
    description="Operators: suspend a member (members:write): no sign-in, earning or spending; "
    "their live connections close and their sessions end.",
)
reactivate_member_field = strawberry.mutation(
    resolver=_status(True),
    extensions=admin_scope(WRITE),
    description="Operators: reactivate a suspended member (members:write).",
)
set_member_tier_field = strawberry.mutation(
    resolver=set_member_tier_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: put a member in a tier until a date, with a reason (members:write): "
    "a status match or a complimentary upgrade. Earning may lift them higher meanwhile; the "
    "worker's review never moves them below it before then.",
)
erase_member_field = strawberry.mutation(
    resolver=erase_member_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: erase a member's personal data, keeping the ledger (members:write).",
)
export_member_field = strawberry.mutation(
    resolver=export_member_mutation,
    extensions=admin_scope(READ),
    description="Operators: one member's data as JSON, audited (members:read).",
)
