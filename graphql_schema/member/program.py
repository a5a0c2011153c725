"""Public facts about the program: its name, what the points are called, its tiers, and how points
are earned and used that a member may read (activities, check-in, paying with points).

Money and multipliers are Decimals in the program; here they are exact decimal strings ("0.01"),
never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from app.auth import PrincipalKind
from app.program import Activity as ActivityModel
from app.program import CheckIn as CheckInModel
from app.program import PayWithPoints as PayWithPointsModel
from app.program import Program as ProgramModel
from app.program import Tier as TierModel
from app.program import get_program
from graphql_schema.context import Info
from graphql_schema.permissions import require_kind
from graphql_schema.refusals import ARGUMENTS, as_query


@strawberry.type
class Tier:
    code: str
    name: str
    threshold: int = strawberry.field(description="Qualifying points needed to reach this tier.")
    multiplier: str = strawberry.field(
        default="1",
        description='Earn multiplier of the tier as a decimal string: "1.25" is 25 % more.',
    )

    @classmethod
    def from_model(cls, tier: TierModel) -> Tier:
        return cls(
            code=tier.code,
            name=tier.name,
            threshold=tier.threshold,
            multiplier=_decimal(tier.multiplier),
        )


@strawberry.type(
    description="Points for something a member does (sign-up, review, share, referral)."
)
class ProgramActivity:
    code: str
    name: str
    points: int
    per_day: int | None = strawberry.field(description="At most this many times a local day.")
    total: int | None = strawberry.field(description="At most this many times ever.")

    @classmethod
    def from_model(cls, activity: ActivityModel) -> ProgramActivity:
        return cls(
            code=activity.code,
            name=activity.name,
            points=activity.points,
            per_day=activity.per_day,
            total=activity.total,
        )


@strawberry.type(description="Daily check-in (签到): the points of each day of a streak.")
class CheckInRules:
    points_by_streak: list[int] = strawberry.field(
        description="Points on day 1, 2, ... of a streak; the last value repeats after the list."
    )
    restart_after_last: bool = strawberry.field(
        description="After the last day of the list the streak starts over at day 1."
    )

    @classmethod
    def from_model(cls, check_in: CheckInModel) -> CheckInRules:
        return cls(
            points_by_streak=list(check_in.points_by_streak),
            restart_after_last=check_in.restart_after_last,
        )


@strawberry.type(description="Paying part of an order with points (积分抵扣).")
class PayWithPointsRules:
    point_value: str = strawberry.field(description="Money one point pays, a decimal string.")
    max_share: str = strawberry.field(
        description='The most of an order\'s amount points may pay: "0.5" is half.'
    )
    min_points: int
    step: int = strawberry.field(description="Points are used in multiples of this.")

    @classmethod
    def from_model(cls, rules: PayWithPointsModel) -> PayWithPointsRules:
        return cls(
            point_value=_decimal(rules.point_value),
            max_share=_decimal(rules.max_share),
            min_points=rules.min_points,
            step=rules.step,
        )


@strawberry.type
class Program:
    name: str
    currency: str
    timezone: str = strawberry.field(description="IANA time zone that decides calendar rules.")
    tiers: list[Tier]
    money_currency: str = strawberry.field(description="ISO 4217 code of the program's money.")
    return_window_days: int = strawberry.field(
        description="Points earned on a purchase stay pending this many days (returns)."
    )
    activities: list[ProgramActivity]
    check_in: CheckInRules | None
    pay_with_points: PayWithPointsRules | None

    @classmethod
    def from_model(cls, program: ProgramModel) -> Program:
        return cls(
            name=program.name,
            currency=program.currency,
            timezone=program.timezone,
            tiers=[Tier.from_model(tier) for tier in program.tiers],
            money_currency=program.money_currency,
            return_window_days=program.return_window_days,
            activities=[ProgramActivity.from_model(item) for item in program.activities],
            check_in=CheckInRules.from_model(program.check_in) if program.check_in else None,
            pay_with_points=(
                PayWithPointsRules.from_model(program.pay_with_points)
                if program.pay_with_points
                else None
            ),
        )


def _decimal(value: Decimal) -> str:
    return f"{value.normalize():f}"


async def resolve_program(
    info: Info,
    version: Annotated[
        int | None,
        strawberry.argument(
            description="Operators (admin scope program:read): this earlier version instead of "
            "the one in force. programVersion gives the whole configuration."
        ),
    ] = None,
) -> Program:
    if version is not None:
        require_kind(info, PrincipalKind.ADMIN, "program:read")
    program = await as_query(lambda: get_program(info.context.runtime.mongo, version), ARGUMENTS)
    return Program.from_model(program)
