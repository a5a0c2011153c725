"""Check-in (a member's checkIn, and `me { checkIn }`) and activities (a partner's recordActivity)."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.permission import PermissionExtension

from app.engagement import (
    ActivityLimitReached,
    ActivityUnknown,
    CheckInNotConfigured,
    EngagementRefused,
    MemberSuspended,
    ReferenceConflict,
    check_in,
    check_in_status,
    read_check_in,
    record_activity,
)
from app.ledger import PointsLimitExceeded
from app.members import InvalidMemberReference, MemberNotFound, get_entry, member_query
from app.program import ProgramNotConfigured
from graphql_schema.context import Info
from graphql_schema.errors import NotConfigured, Unauthenticated
from graphql_schema.ledger import LedgerEntry
from graphql_schema.partners.access import partner_id as registered_partner
from graphql_schema.partners.types import MemberRefInput
from graphql_schema.permissions import (
    IsPartner,
    MemberMutation,
    caller_member_id,
)
from graphql_schema.user_errors import UserError, UserErrorCode, user_error

MAX_KEY_LENGTH = 128
MAX_CODE_LENGTH = 64


@strawberry.type(description="The member's daily check-in (签到) streak.")
class CheckInStatus:
    streak: int = strawberry.field(
        description="Consecutive days checked in; 0 once a day is missed."
    )
    today_done: bool
    next_points: int = strawberry.field(description="Points the next check-in gives.")


async def check_in_status_of(info: Info, member_id: str) -> CheckInStatus | None:
    """Null when the program has no check-in."""
    try:
        program = await info.context.program()
    except ProgramNotConfigured:
        raise NotConfigured("the program has not been configured yet") from None
    if program.check_in is None:
        return None
    runtime = info.context.runtime
    document = await read_check_in(runtime.mongo, member_id)
    status = check_in_status(program, document, runtime.clock.now())
    return CheckInStatus(
        streak=status.streak, today_done=status.today_done, next_points=status.next_points
    )


@strawberry.type(description="One day's check-in.")
class CheckInDay:
    day: date = strawberry.field(description="The local day in the program's time zone.")
    streak: int
    points: int
    already_done: bool = strawberry.field(
        description="The day was already checked in: this is the first result, nothing was earned."
    )
    entry: LedgerEntry | None = strawberry.field(description="The EARN entry (null for 0 points).")


@strawberry.type
class CheckInPayload:
    check_in: CheckInDay | None
    user_errors: list[UserError]


def _refused(code: UserErrorCode, message: str, *field: str) -> list[UserError]:
    return [user_error(code, message, *field)]


async def check_in_mutation(info: Info, idempotency_key: str | None = None) -> CheckInPayload:
    member_id = caller_member_id(info)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        message = f"the idempotency key must have 1 to {MAX_KEY_LENGTH} characters"
        return CheckInPayload(
            check_in=None,
            user_errors=_refused(UserErrorCode.INVALID_INPUT, message, "idempotencyKey"),
        )
    runtime = info.context.runtime
    try:
        result = await check_in(
            runtime.mongo, runtime.clock, member_id=member_id, idempotency_key=idempotency_key
        )
    except (ProgramNotConfigured, CheckInNotConfigured):
        message = "the program has no daily check-in"
        return CheckInPayload(
            check_in=None, user_errors=_refused(UserErrorCode.NOT_CONFIGURED, message)
        )
    except MemberSuspended as exc:
        return CheckInPayload(
            check_in=None, user_errors=_refused(UserErrorCode.MEMBER_SUSPENDED, str(exc))
        )
    except PointsLimitExceeded as exc:
        return CheckInPayload(
            check_in=None, user_errors=_refused(UserErrorCode.POINTS_LIMIT, str(exc))
        )
    except MemberNotFound:
        raise Unauthenticated("the member of this token does not exist") from None
    entry = None
    if result.entry_id is not None:
        found = await get_entry(runtime.mongo, member_id, result.entry_id)
        entry = LedgerEntry.from_model(found) if found else None
    day = CheckInDay(
        day=result.day, streak=result.streak, points=result.points,
        already_done=result.already_done, entry=entry,
    )  # fmt: skip
    return CheckInPayload(check_in=day, user_errors=[])


check_in_field = strawberry.mutation(
    resolver=check_in_mutation,
    permission_classes=[MemberMutation],
    description=(
        "Check in for today (签到), once per local day: points by streak. A second call the same "
        "day (or a retry with the same idempotencyKey) returns the first result with alreadyDone."
    ),
)


@strawberry.input
class RecordActivityInput:
    member: MemberRefInput
    activity: str = strawberry.field(description="The program's activity code.")
    reference: str = strawberry.field(
        description="The partner's own id of the occurrence; a retry sends the same one."
    )


@strawberry.type
class ActivityEarn:
    activity: str
    points: int
    replayed: bool = strawberry.field(description="The reference was already recorded.")
    entry: LedgerEntry


@strawberry.type
class RecordActivityPayload:
    earn: ActivityEarn | None
    user_errors: list[UserError]


REFUSALS: dict[type[EngagementRefused], tuple[UserErrorCode, tuple[str, ...]]] = {
    ActivityUnknown: (UserErrorCode.ACTIVITY_UNKNOWN, ("input", "activity")),
    ActivityLimitReached: (UserErrorCode.ACTIVITY_LIMIT_REACHED, ("input", "activity")),
    MemberSuspended: (UserErrorCode.MEMBER_SUSPENDED, ("input", "member")),
    ReferenceConflict: (UserErrorCode.IDEMPOTENCY_CONFLICT, ("input", "reference")),
}


def _activity_refused(code: UserErrorCode, message: str, *field: str) -> RecordActivityPayload:
    return RecordActivityPayload(earn=None, user_errors=_refused(code, message, *field))


def _member_query(member: MemberRefInput) -> dict[str, str]:
    ref = member.to_ref()
    return member_query(member_id=ref.id, member_no=ref.member_no, phone=ref.phone)


async def record_activity_mutation(info: Info, input: RecordActivityInput) -> RecordActivityPayload:
    # The registry decides, as for every partner field: a suspended partner awards nothing.
    partner_id = await registered_partner(info, "points:earn")
    bad = UserErrorCode.INVALID_INPUT
    if not 1 <= len(input.reference) <= MAX_KEY_LENGTH:
        message = f"the reference must have 1 to {MAX_KEY_LENGTH} characters"
        return _activity_refused(bad, message, "input", "reference")
    if not 1 <= len(input.activity) <= MAX_CODE_LENGTH:
        return _activity_refused(
            UserErrorCode.ACTIVITY_UNKNOWN, "no such activity", "input", "activity"
        )
    try:
        query = _member_query(input.member)
    except InvalidMemberReference as exc:
        return _activity_refused(bad, str(exc), "input", "member", *filter(None, [exc.field]))
    runtime = info.context.runtime
    try:
        result = await record_activity(
            runtime.mongo, runtime.clock, partner_id=partner_id, member=query,
            activity_code=input.activity, reference=input.reference,
        )  # fmt: skip
    except ProgramNotConfigured:
        return _activity_refused(UserErrorCode.NOT_CONFIGURED, "no program is configured")
    except MemberNotFound:
        return _activity_refused(UserErrorCode.NOT_FOUND, "no such member", "input", "member")
    except EngagementRefused as exc:
        code, field = REFUSALS[type(exc)]
        return _activity_refused(code, str(exc), *field)
    except PointsLimitExceeded as exc:
        return _activity_refused(UserErrorCode.POINTS_LIMIT, str(exc), "input", "member")
    earn = ActivityEarn(
        activity=result.activity, points=result.entry.points, replayed=result.replayed,
        entry=LedgerEntry.from_model(result.entry),
    )  # fmt: skip
    return RecordActivityPayload(earn=earn, user_errors=[])


record_activity_field = strawberry.mutation(
    resolver=record_activity_mutation,
    extensions=[PermissionExtension(permissions=[IsPartner("points:earn")], use_directives=False)],
    description=(
        "Partners (scope points:earn): points for an activity of a member (sign-up, review, "
        "share...), capped per day and in total; idempotent on (partner, reference)."
    ),
)
