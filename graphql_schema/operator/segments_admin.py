"""Operators' segments (admin scopes members:read, members:write): `segments`, `segment(id)` with
its live size, its members page by page and each page as CSV; `saveSegment` and `deleteSegment`.
The rules live in app/segments; this maps them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.auth import PrincipalKind, actor_of
from app.csv_files import write_csv
from app.program import condition_document
from app.segments import (
    Segment as SegmentModel,
)
from app.segments import (
    SegmentMember as SegmentMemberModel,
)
from app.segments import (
    count_segment,
    delete_segment,
    get_segment,
    list_segments,
    parse_segment,
    save_segment,
    segment_page,
)
from graphql_schema.context import Info
from graphql_schema.ids import to_global_id
from graphql_schema.permissions import admin_scope, require_kind
from graphql_schema.refusals import Where, as_payload
from graphql_schema.relay import KEY, Cursor, page_size
from graphql_schema.user_errors import UserError

READ, WRITE = "members:read", "members:write"
PAGE = Cursor("segment-members", (KEY,))  # the member id a page stopped at
WHERE = Where()
BY_ID = Where(under=())
CSV_HEADER = (
    "member_id",
    "member_no",
    "name",
    "tier",
    "points",
    "lifetime_points",
    "last_activity_at",
)


@strawberry.type(description="How many members a segment takes now, and the points they hold.")
class SegmentSize:
    members: int
    points: int = strawberry.field(description="Points available to them now.")


@strawberry.type(description="A member of a segment, with what the segment read of them.")
class SegmentMember:
    member_id: strawberry.ID
    member_no: str
    name: str
    tier: str
    points: int
    lifetime_points: int
    last_activity_at: datetime | None

    @classmethod
    def of(cls, member: SegmentMemberModel) -> SegmentMember:
        return cls(
            member_id=strawberry.ID(to_global_id("Member", member.member_id)),
            member_no=member.member_no,
            name=member.name,
            tier=member.tier,
            points=member.points,
            lifetime_points=member.lifetime_points,
            last_activity_at=member.last_activity_at,
        )


@strawberry.type(description="A page of a segment's members, in member id order.")
class SegmentMemberPage:
    nodes: list[SegmentMember]
    end_cursor: str | None = strawberry.field(description="Give it as `after` for the next page.")
    has_next_page: bool
    csv: str = strawberry.field(description="This page as CSV (RFC 4180, with a header row).")


@strawberry.type(description="A saved condition over members (docs/segments.md).")
class Segment:
    id: str
    name: str
    description: str
    when: JSON = strawberry.field(description="The condition, as saveSegment takes it.")
    version: int
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, segment: SegmentModel) -> Segment:
        return cls(
            id=segment.id,
            name=segment.name,
            description=segment.description,
            when=JSON(condition_document(segment.when)),
            version=segment.version,
            updated_at=segment.updated_at,
            updated_by=segment.updated_by,
        )

    @strawberry.field(description="Counted now, over every member (a pass over the members).")  # type: ignore[untyped-decorator]
    async def size(self, info: Info) -> SegmentSize:
        runtime = info.context.runtime
        segment = await get_segment(runtime.mongo, self.id)
        program = await info.context.program()
        members, points = await count_segment(runtime.mongo, program, segment, runtime.clock.now())
        return SegmentSize(members=members, points=points)

    @strawberry.field(description="Members taken now, `first` (1 to 100) after `after`.")  # type: ignore[untyped-decorator]
    async def members(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> SegmentMemberPage:
        runtime = info.context.runtime
        segment = await get_segment(runtime.mongo, self.id)
        program = await info.context.program()
        start = PAGE.decode(after)[0] if after is not None else None
        found, next_id = await segment_page(
            runtime.mongo,
            program,
            segment,
            runtime.clock.now(),
            first=page_size(first),
            after=start,
        )
        rows = [
            (
                m.member_id,
                m.member_no,
                m.name,
                m.tier,
                m.points,
                m.lifetime_points,
                "" if m.last_activity_at is None else m.last_activity_at.isoformat(),
            )
            for m in found
        ]
        return SegmentMemberPage(
            nodes=[SegmentMember.of(m) for m in found],
            end_cursor=None if next_id is None else PAGE.encode(next_id),
            has_next_page=next_id is not None,
            csv=write_csv([CSV_HEADER, *rows]),
        )


@strawberry.input(description="A segment: an id of your choosing, a name and a condition.")
class SaveSegmentInput:
    id: str = strawberry.field(description="Lower-case letters, digits, - and _ (1 to 64).")
    name: str
    description: str = ""
    when: JSON = strawberry.field(
        description="A condition over member and account facts (docs/segments.md)."
    )


@strawberry.type
class SegmentPayload:
    segment: Segment | None
    user_errors: list[UserError]


@strawberry.type
class DeleteSegmentPayload:
    deleted: bool
    user_errors: list[UserError]


async def resolve_segments(info: Info) -> list[Segment]:
    return [Segment.of(s) for s in await list_segments(info.context.runtime.mongo)]


async def resolve_segment(info: Info, id: str) -> Segment | None:
    found = await list_segments(info.context.runtime.mongo)
    return next((Segment.of(s) for s in found if s.id == id), None)


async def save_segment_mutation(info: Info, input: SaveSegmentInput) -> SegmentPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> SegmentPayload:
        raw: dict[str, Any] = {
            "id": input.id,
            "name": input.name,
            "description": input.description,
            "when": input.when,
        }
        saved = await save_segment(runtime.mongo, runtime.clock, parse_segment(raw), actor=actor)
        return SegmentPayload(segment=Segment.of(saved), user_errors=[])

    return await as_payload(run, lambda e: SegmentPayload(segment=None, user_errors=e), WHERE)


async def delete_segment_mutation(info: Info, id: str) -> DeleteSegmentPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> DeleteSegmentPayload:
        await delete_segment(runtime.mongo, runtime.clock, id, actor=actor)
        return DeleteSegmentPayload(deleted=True, user_errors=[])

    return await as_payload(
        run, lambda e: DeleteSegmentPayload(deleted=False, user_errors=e), BY_ID
    )


segments_field = strawberry.field(
    resolver=resolve_segments,
    extensions=admin_scope(READ),
    description="Operators: the saved segments, by id (members:read).",
)
segment_field = strawberry.field(
    resolver=resolve_segment,
    extensions=admin_scope(READ),
    description="Operators: one segment, with its live size and members (members:read).",
)
save_segment_field = strawberry.mutation(
    resolver=save_segment_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: create or replace a segment (members:write); audited.",
)
delete_segment_field = strawberry.mutation(
    resolver=delete_segment_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: delete a segment (members:write); audited.",
)
