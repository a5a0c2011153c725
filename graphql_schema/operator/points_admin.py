"""Operators correct points (admin scope points:write): `adjustPoints`, `extendExpiry` and
`clearPoints` (清零) for one member, or for a filter as a dry run or a job the worker runs;
`pointsJob` / `pointsJobs` show a job's progress. Each write is idempotent and audited (app.corrections).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth import PrincipalKind, actor_of
from app.corrections import (
    InvalidFilter,
    JobKind,
    JobNotFound,
    MemberFilter,
    PointsJob,
    adjust_points,
    clear_member,
    create_job,
    extend_expiry,
    get_job,
    list_jobs,
    preview,
)
from app.ledger import (
    MAX_ENTRY_POINTS,
    Entry,
    PointsLimitExceeded,
)
from app.members import MemberNotFound
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.member.ledger import LedgerEntry
from graphql_schema.permissions import admin_scope, require_kind
from graphql_schema.refusals import Where, as_payload
from graphql_schema.relay import KEY, Connection, Cursor, connection, page_size
from graphql_schema.scalars import BigInt
from graphql_schema.user_errors import UserError

SCOPE = "points:write"
JOBS = Cursor("points-job", (KEY,))


@strawberry.input(description="Which members a bulk operation takes: exactly one of the three.")
class MemberFilterInput:
    dormant_days: int | None = strawberry.field(
        default=None, description="No earn or spend for more than this many days (1 to 36500)."
    )
    tier: str | None = strawberry.field(default=None, description="Members of this tier code.")
    segment: str | None = strawberry.field(
        default=None,
        description="The members of this segment (its id), decided when the job is made.",
    )

    def to_filter(self) -> MemberFilter:
        return MemberFilter(dormant_days=self.dormant_days, tier=self.tier, segment=self.segment)


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    points: int = strawberry.field(
        description="Positive gives points (never expiring); negative takes them."
    )
    reason: str = strawberry.field(description="Required; the member sees it in their history.")
    idempotency_key: str


@strawberry.input
class ExtendExpiryInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description="One member, or:")
    filter: MemberFilterInput | None = strawberry.field(
        default=None, description="Members by filter."
    )
    until: datetime = strawberry.field(description="Points expiring before this now expire then.")
    dry_run: bool = strawberry.field(default=False, description="With a filter: count only.")
    reason: str
    idempotency_key: str


@strawberry.input
class ClearPointsInput:
    member_id: strawberry.ID | None = strawberry.field(default=None, description="One member, or:")
    filter: MemberFilterInput | None = strawberry.field(
        default=None, description="Members by filter."
    )
    dry_run: bool = strawberry.field(default=False, description="With a filter: count only.")
    reason: str
    idempotency_key: str


@strawberry.type(description="What a bulk operation would take now.")
class BulkPreview:
    members: int
    points: BigInt = strawberry.field(
        description="Available, pending and held points of those members."
    )


strawberry.enum(JobKind, name="PointsJobKind")


@strawberry.type(
    name="PointsJob", description="A bulk 清零 or extension, run by the worker (or `jifen clear`)."
)
class PointsJobView:
    id: strawberry.ID
    kind: JobKind
    finished: bool
    dormant_days: int | None
    tier: str | None
    segment: str | None = strawberry.field(description="The segment whose members it took.")
    cutoff: datetime | None = strawberry.field(description="Dormant: last activity before this.")
    until: datetime | None
    reason: str
    actor: str
    total: int = strawberry.field(description="Members decided when the job was made.")
    expected_points: BigInt = strawberry.field(description="Their points then.")
    done: int = strawberry.field(description="Members handled so far (changed or skipped).")
    changed: int
    skipped: int = strawberry.field(description="Active again since the cut-off: left alone.")
    points: BigInt = strawberry.field(description="Points cleared so far.")
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: PointsJob) -> PointsJobView:
        return cls(
            id=strawberry.ID(to_global_id("PointsJob", job.id)),
            kind=job.kind,
            finished=job.finished_at is not None,
            dormant_days=job.filter.dormant_days,
            tier=job.filter.tier,
            segment=job.filter.segment,
            cutoff=job.cutoff,
            until=job.until,
            reason=job.reason,
            actor=job.actor,
            total=job.total,
            expected_points=BigInt(job.expected_points),
            done=job.done,
            changed=job.changed,
            skipped=job.skipped,
            points=BigInt(job.points),
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


PointsJobConnection = Connection[PointsJobView]


@strawberry.type
class AdjustPointsPayload:
    entry: LedgerEntry | None
    user_errors: list[UserError]


@strawberry.type
class BulkPointsPayload:
    entry: LedgerEntry | None = strawberry.field(description="One member: the ledger entry.")
    preview: BulkPreview | None = strawberry.field(description="A filter's dry run.")
    job: PointsJobView | None = strawberry.field(description="A filter's job, just made.")
    user_errors: list[UserError]


ADMIN = Where(member=("member_id",), account=("points",))


def _member(member_id: strawberry.ID) -> str:
    try:
        return from_global_id(member_id, "Member")[1]
    except InvalidInput:
        raise MemberNotFound(member_id) from None


async def adjust_points_mutation(info: Info, input: AdjustPointsInput) -> AdjustPointsPayload:
    principal = require_kind(info, PrincipalKind.ADMIN, SCOPE)
    runtime = info.context.runtime

    async def run() -> AdjustPointsPayload:
        if abs(input.points) > MAX_ENTRY_POINTS:
            raise PointsLimitExceeded("entry", MAX_ENTRY_POINTS, abs(input.points))
        entry = await adjust_points(
            runtime.mongo,
            runtime.clock,
            member_id=_member(input.member_id),
            points=input.points,
            reason=input.reason,
            actor=actor_of(principal),
            idempotency_key=input.idempotency_key,
        )
        return AdjustPointsPayload(entry=LedgerEntry.from_model(entry), user_errors=[])

    return await as_payload(run, lambda e: AdjustPointsPayload(entry=None, user_errors=e), ADMIN)


def _target(
    member_id: strawberry.ID | None, filter: MemberFilterInput | None, dry_run: bool
) -> MemberFilter | None:
    """The filter (None: the one member), or InvalidFilter when the input names both or neither."""
    if (member_id is None) == (filter is None):
        raise InvalidFilter("filter", "give exactly one of memberId and filter")
    if filter is None:
        if dry_run:
            raise InvalidFilter("filter", "a dry run is for a filter")
        return None
    return filter.to_filter()


async def _bulk(
    info: Info, kind: JobKind, input: ExtendExpiryInput | ClearPointsInput, until: datetime | None
) -> BulkPointsPayload:
    principal = require_kind(info, PrincipalKind.ADMIN, SCOPE)
    mongo, clock = info.context.runtime.mongo, info.context.runtime.clock
    actor, key = actor_of(principal), input.idempotency_key

    async def run() -> BulkPointsPayload:
        member_filter = _target(input.member_id, input.filter, input.dry_run)
        if member_filter is None:
            assert input.member_id is not None
            entry = await _for_member(info, _member(input.member_id), input, until)
            return BulkPointsPayload(
                entry=LedgerEntry.from_model(entry), preview=None, job=None, user_errors=[]
            )
        if input.dry_run:
            shown = await preview(mongo, member_filter, clock.now())
            return BulkPointsPayload(
                entry=None,
                preview=BulkPreview(members=shown.members, points=BigInt(shown.points)),
                job=None,
                user_errors=[],
            )
        job = await create_job(
            mongo,
            clock,
            kind=kind,
            member_filter=member_filter,
            reason=input.reason,
            actor=actor,
            idempotency_key=key,
            until=until,
        )
        return BulkPointsPayload(
            entry=None, preview=None, job=PointsJobView.of(job), user_errors=[]
        )

    return await as_payload(run, _bulk_failed, ADMIN)


def _bulk_failed(errors: list[UserError]) -> BulkPointsPayload:
    return BulkPointsPayload(entry=None, preview=None, job=None, user_errors=errors)


async def _for_member(
    info: Info, member_id: str, input: ExtendExpiryInput | ClearPointsInput, until: datetime | None
) -> Entry:
    mongo, clock = info.context.runtime.mongo, info.context.runtime.clock
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    if until is not None:
        return await extend_expiry(
            mongo,
            clock,
            member_id=member_id,
            until=until,
            reason=input.reason,
            actor=actor,
            idempotency_key=input.idempotency_key,
        )
    return await clear_member(
        mongo,
        clock,
        member_id=member_id,
        reason=input.reason,
        actor=actor,
        idempotency_key=input.idempotency_key,
    )


async def extend_expiry_mutation(info: Info, input: ExtendExpiryInput) -> BulkPointsPayload:
    return await _bulk(info, JobKind.EXTEND, input, input.until)


async def clear_points_mutation(info: Info, input: ClearPointsInput) -> BulkPointsPayload:
    return await _bulk(info, JobKind.CLEAR, input, None)


async def resolve_points_job(info: Info, id: strawberry.ID) -> PointsJobView | None:
    _, job_id = from_global_id(id, "PointsJob")
    try:
        return PointsJobView.of(await get_job(info.context.runtime.mongo, job_id))
    except JobNotFound:
        return None


async def resolve_points_jobs(
    info: Info, first: int = 20, after: str | None = None
) -> PointsJobConnection:
    limit = page_size(first)
    before = JOBS.decode(after)[0] if after is not None else None
    jobs, more = await list_jobs(info.context.runtime.mongo, first=limit, before=before)
    return connection(
        jobs,
        has_next=more,
        after=after,
        cursor=lambda job: JOBS.encode(job.id),
        node=PointsJobView.of,
    )


adjust_points_field = strawberry.mutation(
    resolver=adjust_points_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: give or take points for one member, with a reason (admin scope "
    "points:write). Taking more than the available points is INSUFFICIENT_POINTS: an "
    "adjustment makes no debt.",
)
extend_expiry_field = strawberry.mutation(
    resolver=extend_expiry_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: move expiries before `until` to `until`, for one member or a filter "
    "(a dry run counts; the real run makes a job) (admin scope points:write).",
)
clear_points_field = strawberry.mutation(
    resolver=clear_points_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: 清零, take every point of one member, or of a filter's members as a "
    "job the worker runs (dryRun: the count and the points first) (admin scope points:write).",
)
points_job_field = strawberry.field(
    resolver=resolve_points_job,
    extensions=admin_scope(SCOPE),
    description="Operators: a bulk 清零 or extension job and its progress (admin scope points:write).",
)
points_jobs_field = strawberry.field(
    resolver=resolve_points_jobs,
    extensions=admin_scope(SCOPE),
    description="Operators: bulk jobs, newest first (admin scope points:write).",
)
