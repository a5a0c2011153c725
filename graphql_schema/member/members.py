"""The member as the app sees them: profile, tier, balance, expiring points, history, redemptions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import strawberry
from strawberry.permission import PermissionExtension

from app.auth import PrincipalKind
from app.ledger import get_balance
from app.members import ExpiringPoints as ExpiringRow
from app.members import (
    InvalidProfile,
    MemberNotFound,
    MemberStatus,
    expiring_points,
    update_profile,
)
from app.members import Member as MemberModel
from app.notifications import days_left
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput, Unauthenticated
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.member.addresses import SavedShippingAddress, resolve_addresses
from graphql_schema.member.challenges import Badge, ChallengeProgress, badges_of, challenges_of
from graphql_schema.member.draws import DrawEntryConnection, draw_entries_page
from graphql_schema.member.engagement import CheckInStatus, check_in_status_of
from graphql_schema.member.ledger import (
    LedgerEntryConnection,
    LedgerEntryKind,
    as_int,
    history_page,
)
from graphql_schema.member.message_preferences import (
    NotificationPreferences,
    notification_preferences_of,
)
from graphql_schema.member.notifications import NotificationConnection, notifications_page
from graphql_schema.member.program import Tier
from graphql_schema.member.referrals import Referral, referral_of
from graphql_schema.member.rewards import RedemptionConnection, redemptions_page
from graphql_schema.member.tiers import (
    TierChangeConnection,
    TierProgress,
    tier_history_page,
    tier_progress_of,
)
from graphql_schema.permissions import IsAdmin, MemberMutation, caller_member_id, require_kind
from graphql_schema.refusals import as_payload
from graphql_schema.relay import Node
from graphql_schema.user_errors import UserError

MAX_EXPIRY_WINDOW_DAYS = 3660
EXPIRING_POINTS_DOC = (
    "Points that will expire within the window, one row per expiry instant, soonest first."
)
# The contract fixes the field's own description: what it leaves out is said on the arguments.
INCLUDE_PENDING_DOC = (
    "Also count pending points (earned, inside a return window). Left out by default, as "
    "balance.nextExpiry and the expiry warnings leave them out: they count the points the member "
    "can spend now. Pending points expire at their instant too."
)
INCLUDE_HELD_DOC = (
    "Also count points held by an unfinished checkout. Left out by default, as balance.nextExpiry "
    "and the expiry warnings leave them out: spent if the checkout completes, counted again if it "
    "is released before their instant (expired on release if after)."
)


@strawberry.type
class ExpiringPoints:
    points: int
    expires_at: datetime
    days_left: int = strawberry.field(
        description="Whole days until expiresAt, rounded up, as the expiry warnings count them."
    )

    @classmethod
    def of(cls, row: ExpiringRow, now: datetime) -> ExpiringPoints:
        return cls(
            points=as_int(row.points),
            expires_at=row.expires_at,
            days_left=days_left(row.expires_at, now),
        )


@strawberry.type
class Balance:
    available: int = strawberry.field(description="Spendable now.")
    pending: int = strawberry.field(
        description="Earned but not yet spendable (inside a return window)."
    )
    held: int = strawberry.field(description="Reserved by an unfinished checkout.")
    debt: int = strawberry.field(
        description="Points owed: a refund took back points the member had already spent. The "
        "next points that become available (an earn, pending points maturing) pay it first; it is "
        "never taken from available. Each history entry's debtChange says what made or paid it."
    )
    lifetime_earned: int
    next_expiry: ExpiringPoints | None = strawberry.field(
        description="The soonest expiry among the available points, if any."
    )


strawberry.enum(MemberStatus, description="Whether the member may earn, spend, sign in.")


@strawberry.type
class Member(Node):
    """Profile fields are read lazily (once per request): `me { balance }` reads only the account."""

    member_id: strawberry.Private[str]

    @classmethod
    def of(cls, member_id: str) -> Member:
        return cls(id=strawberry.ID(to_global_id("Member", member_id)), member_id=member_id)

    async def profile(self, info: Info) -> MemberModel:
        try:
            return await info.context.member(self.member_id)
        except MemberNotFound:
            # A validly signed token for a member that no longer exists: treat as signed out.
            raise Unauthenticated("the member of this token does not exist") from None

    @strawberry.field
    async def member_no(self, info: Info) -> str:
        return (await self.profile(info)).member_no

    @strawberry.field
    async def name(self, info: Info) -> str:
        return (await self.profile(info)).name

    @strawberry.field
    async def phone(self, info: Info) -> str | None:
        return (await self.profile(info)).phone

    @strawberry.field
    async def email(self, info: Info) -> str | None:
        return (await self.profile(info)).email

    @strawberry.field
    async def birthday(self, info: Info) -> date | None:
        return (await self.profile(info)).birthday

    @strawberry.field
    async def joined_at(self, info: Info) -> datetime:
        return (await self.profile(info)).joined_at

    @strawberry.field(description="ACTIVE, or SUSPENDED / ERASED by an operator.")  # type: ignore[untyped-decorator]
    async def status(self, info: Info) -> MemberStatus:
        return (await self.profile(info)).status

    @strawberry.field
    async def tier(self, info: Info) -> Tier:
        member = await self.profile(info)
        program = await info.context.program()
        return Tier.from_model(program.tier(member.tier))

    @strawberry.field
    async def balance(self, info: Info) -> Balance:
        runtime = info.context.runtime
        now = runtime.clock.now()
        balance = await get_balance(runtime.mongo, self.member_id, now)  # exact at `now`
        nxt = balance.next_expiry
        return Balance(
            available=as_int(balance.available),
            pending=as_int(balance.pending),
            held=as_int(balance.held),
            debt=as_int(balance.debt),
            lifetime_earned=as_int(balance.lifetime_earned),
            next_expiry=ExpiringPoints.of(ExpiringRow(nxt.points, nxt.expires_at), now)
            if nxt
            else None,
        )

    @strawberry.field(description=EXPIRING_POINTS_DOC)  # type: ignore[untyped-decorator]
    async def expiring_points(
        self,
        info: Info,
        within_days: int = 30,
        include_pending: Annotated[
            bool, strawberry.argument(description=INCLUDE_PENDING_DOC)
        ] = False,
        include_held: Annotated[bool, strawberry.argument(description=INCLUDE_HELD_DOC)] = False,
    ) -> list[ExpiringPoints]:
        if within_days < 0 or within_days > MAX_EXPIRY_WINDOW_DAYS:
            raise InvalidInput(
                f"withinDays must be between 0 and {MAX_EXPIRY_WINDOW_DAYS}", field="withinDays"
            )
        runtime = info.context.runtime
        now = runtime.clock.now()
        rows = await expiring_points(
            runtime.mongo,
            self.member_id,
            now=now,
            within=timedelta(days=within_days),
            pending=include_pending,
            held=include_held,
        )
        return [ExpiringPoints.of(row, now) for row in rows]

    @strawberry.field(description="The points ledger, newest first.")  # type: ignore[untyped-decorator]
    async def history(
        self,
        info: Info,
        first: int,
        after: str | None = None,
        kinds: list[LedgerEntryKind] | None = None,
    ) -> LedgerEntryConnection:
        return await history_page(info, self.member_id, first, after, kinds)

    @strawberry.field(description="The member's shipping addresses (at most 10).")  # type: ignore[untyped-decorator]
    async def addresses(self, info: Info) -> list[SavedShippingAddress]:
        return await resolve_addresses(info, self.member_id)

    @strawberry.field
    async def redemptions(
        self, info: Info, first: int, after: str | None = None
    ) -> RedemptionConnection:
        return await redemptions_page(info, self.member_id, first, after)

    @strawberry.field(description="The member's draw entries and their outcomes, newest first.")  # type: ignore[untyped-decorator]
    async def draw_entries(
        self, info: Info, first: int, after: str | None = None
    ) -> DrawEntryConnection:
        return await draw_entries_page(info, self.member_id, first, after)

    @strawberry.field(description="The member's tier changes, newest first.")  # type: ignore[untyped-decorator]
    async def tier_history(
        self, info: Info, first: int, after: str | None = None
    ) -> TierChangeConnection:
        return await tier_history_page(info, self.member_id, first, after)

    @strawberry.field(
        description="The member's referral code and link; null when the program has no referrals."
    )  # type: ignore[untyped-decorator]
    async def referral(self, info: Info) -> Referral | None:
        return await referral_of(info, self.member_id)

    @strawberry.field(description="Challenges running now, with the member's progress.")  # type: ignore[untyped-decorator]
    async def challenges(self, info: Info) -> list[ChallengeProgress]:
        return await challenges_of(info, self.member_id)

    @strawberry.field(description="Badges the member earned by completing challenges.")  # type: ignore[untyped-decorator]
    async def badges(self, info: Info) -> list[Badge]:
        return await badges_of(info, self.member_id)

    @strawberry.field(description="Where the member stands on the way to the next tier.")  # type: ignore[untyped-decorator]
    async def tier_progress(self, info: Info) -> TierProgress:
        profile = await self.profile(info)
        override = profile.tier_override
        held = (
            override.until
            if override is not None and override.until > info.context.runtime.clock.now()
            else None
        )
        return await tier_progress_of(info, self.member_id, profile.tier, held)

    @strawberry.field(description="The daily check-in streak; null when the program has none.")  # type: ignore[untyped-decorator]
    async def check_in(self, info: Info) -> CheckInStatus | None:
        return await check_in_status_of(info, self.member_id)

    @strawberry.field(description="In-app notifications (expiry warnings), newest first.")  # type: ignore[untyped-decorator]
    async def notifications(
        self, info: Info, first: int, after: str | None = None
    ) -> NotificationConnection:
        return await notifications_page(info, self.member_id, first, after)

    @strawberry.field(description="Which messages the member gets outside the app, per channel.")  # type: ignore[untyped-decorator]
    async def notification_preferences(self, info: Info) -> NotificationPreferences:
        return await notification_preferences_of(info, self.member_id)


def resolve_me(info: Info) -> Member:
    # The member check in the resolver rather than as a permission class: the same errors, without
    # strawberry's permission extension wrapping every request's busiest field.
    principal = require_kind(info, PrincipalKind.MEMBER)
    assert principal.member_id is not None
    return Member.of(principal.member_id)


async def resolve_member(info: Info, id: strawberry.ID) -> Member | None:
    _, raw_id = from_global_id(id, "Member")
    try:
        info.context.remember_member(await info.context.member(raw_id))
    except MemberNotFound:
        return None
    return Member.of(raw_id)


me_field = strawberry.field(
    resolver=resolve_me,
    description="The member the access token belongs to.",
)
member_field = strawberry.field(
    resolver=resolve_member,
    extensions=[PermissionExtension(permissions=[IsAdmin("members:read")], use_directives=False)],
    description="Operators: one member by id (admin scope members:read).",
)


@strawberry.input
class UpdateProfileInput:
    """Fields left out stay as they are; email and birthday set to null are cleared."""

    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    birthday: date | None = strawberry.UNSET


@strawberry.type
class UpdateProfilePayload:
    member: Member | None
    user_errors: list[UserError]


def _given(value: object) -> bool:
    return value is not strawberry.UNSET


async def update_profile_mutation(info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
    member_id = caller_member_id(info)
    runtime = info.context.runtime
    name = input.name if _given(input.name) else None
    email = input.email if _given(input.email) else None
    birthday = input.birthday if _given(input.birthday) else None

    async def run() -> UpdateProfilePayload:
        if _given(input.name) and input.name is None:
            raise InvalidProfile("name", "the name cannot be removed")
        member = await update_profile(
            runtime.mongo,
            runtime.clock,
            member_id,
            name=name,
            email=email,
            birthday=birthday,
            clear_email=_given(input.email) and input.email is None,
            clear_birthday=_given(input.birthday) and input.birthday is None,
        )
        info.context.remember_member(member)
        return UpdateProfilePayload(member=Member.of(member_id), user_errors=[])

    return await as_payload(run, lambda e: UpdateProfilePayload(member=None, user_errors=e))


update_profile_field = strawberry.mutation(
    resolver=update_profile_mutation, permission_classes=[MemberMutation]
)
