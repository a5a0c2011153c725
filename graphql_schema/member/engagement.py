"""Check-in (a member's checkIn, and `me { checkIn }`) and activities (a partner's recordActivity)."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.permission import PermissionExtension

from app.bounds import MAX_KEY_LENGTH, KeyOutOfBounds
from app.engagement import (
    ActivityUnknown,
    check_in,
    check_in_status,
    read_check_in,
    record_activity,
)
from app.members import get_entry, member_query
from graphql_schema.context import Info
from graphql_schema.member.ledger import LedgerEntry
from graphql_schema.partner.access import partner_id as registered_partner
from graphql_schema.partner.types import MemberRefInput
from graphql_schema.permissions import (
    IsPartner,
    MemberMutation,
    caller_member_id,
)
from graphql_schema.refusals import ARGUMENTS, Where, as_payload
from graphql_schema.user_errors import UserError

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
    program = await info.context.program()
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


async def check_in_mutation(info: Info, idempotency_key: str | None = None) -> CheckInPayload:
    member_id = caller_member_id(info)
    runtime = info.context.runtime

    async def run() -> CheckInPayload:
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
            message = f"the idempotency key must have 1 to {MAX_KEY_LENGTH} characters"
            raise KeyOutOfBounds(message)
        result = await check_in(
            runtime.mongo, runtime.clock, member_id=member_id, idempotency_key=idempotency_key
        )
        entry = None
        if result.entry_id is not None:
            found = await get_entry(runtime.mongo, member_id, result.entry_id)
            entry = LedgerEntry.from_model(found) if found else None
        day = CheckInDay(
            day=result.day,
            streak=result.streak,
            points=result.points,
            already_done=result.already_done,
            entry=entry,
        )
        return CheckInPayload(check_in=day, user_errors=[])

    return await as_payload(run, lambda e: CheckInPayload(check_in=None, user_errors=e), ARGUMENTS)


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


ACTIVITY = Where(member=("member",), account=("member",))
"""recordActivity names the member in its input: what is refused about them is `input.member`."""


def _member_query(member: MemberRefInput) -> dict[str, str]:
    ref = member.to_ref()
    return member_query(member_id=ref.id, member_no=ref.member_no, phone=ref.phone)


async def record_activity_mutation(info: Info, input: RecordActivityInput) -> RecordActivityPayload:
    # The registry decides, as for every partner field: a suspended partner awards nothing.
    partner_id = await registered_partner(info, "points:earn")
    runtime = info.context.runtime

    async def run() -> RecordActivityPayload:
        if not 1 <= len(input.reference) <= MAX_KEY_LENGTH:
            message = f"the reference must have 1 to {MAX_KEY_LENGTH} characters"
            raise KeyOutOfBounds(message, "reference")
        if not 1 <= len(input.activity) <= MAX_CODE_LENGTH:
            raise ActivityUnknown(input.activity, "no such activity")
        result = await record_activity(
            runtime.mongo,
            runtime.clock,
            partner_id=partner_id,
            member=_member_query(input.member),
            activity_code=input.activity,
            reference=input.reference,
        )
        earn = ActivityEarn(
            activity=result.activity,
            points=result.entry.points,
            replayed=result.replayed,
            entry=LedgerEntry.from_model(result.entry),
        )
        return RecordActivityPayload(earn=earn, user_errors=[])

    return await as_payload(
        run, lambda e: RecordActivityPayload(earn=None, user_errors=e), ACTIVITY
    )


record_activity_field = strawberry.mutation(
    resolver=record_activity_mutation,
    extensions=[PermissionExtension(permissions=[IsPartner("points:earn")], use_directives=False)],
    description=(
        "Partners (scope points:earn): points for an activity of a member (sign-up, review, "
        "share...), capped per day and in total; idempotent on (partner, reference)."
    ),
)
