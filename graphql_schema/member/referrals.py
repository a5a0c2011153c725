"""Referrals as the member sees them (`me { referral }`) and operators' `referralReport`."""

from __future__ import annotations

import strawberry

from app.referrals import ReferralStats, referral_code_of, referral_report
from graphql_schema.context import Info
from graphql_schema.ids import from_global_id
from graphql_schema.permissions import admin_scope


@strawberry.type(
    description="The member's referral code, their link, and how their referrals went."
)
class Referral:
    code: str
    link: str = strawberry.field(description="The sign-up link to share, with the code in it.")
    signed_up: int = strawberry.field(description="Members who signed up with the code.")
    rewarded: int = strawberry.field(description="Of them, referrals the member was paid for.")
    points_earned: int = strawberry.field(description="Points paid for them, both sides.")


async def referral_of(info: Info, member_id: str) -> Referral | None:
    program = await info.context.program()
    if program.referrals is None:
        return None
    mongo = info.context.runtime.mongo
    code = await referral_code_of(mongo, member_id)
    stats = await referral_report(mongo, member_id)
    return Referral(
        code=code,
        link=program.referrals.link.replace("{code}", code),
        signed_up=stats.signed_up,
        rewarded=stats.rewarded,
        points_earned=stats.points_paid,
    )


@strawberry.type(description="Referrals by where they stand, and the points paid for them.")
class ReferralReport:
    invited: int = strawberry.field(description="Members who asked for their code.")
    signed_up: int
    pending: int = strawberry.field(description="First purchase made, not matured yet.")
    rewarded: int
    limited: int = strawberry.field(description="Past the referrer's monthly limit: referred only.")
    cancelled: int = strawberry.field(description="The qualifying purchase was refunded.")
    refused: int = strawberry.field(description="Referrer and referred share a device.")
    points_paid: int

    @classmethod
    def of(cls, stats: ReferralStats) -> ReferralReport:
        return cls(
            invited=stats.invited,
            signed_up=stats.signed_up,
            pending=stats.pending,
            rewarded=stats.rewarded,
            limited=stats.limited,
            cancelled=stats.cancelled,
            refused=stats.refused,
            points_paid=stats.points_paid,
        )


async def resolve_referral_report(
    info: Info, member_id: strawberry.ID | None = None
) -> ReferralReport:
    raw = None if member_id is None else from_global_id(member_id, "Member")[1]
    return ReferralReport.of(await referral_report(info.context.runtime.mongo, raw))


referral_report_field = strawberry.field(
    resolver=resolve_referral_report,
    extensions=admin_scope("reports:read"),
    description="Operators: referrals by status and the points paid, of everyone or of one "
    "referrer (reports:read).",
)
