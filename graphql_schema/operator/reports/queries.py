"""`reports { ... }`: every report for operators with admin scope reports:read.

One root field holds them all, each with its arguments; a report's `csv` field gives the same rows
as CSV text. Arguments out of bounds (a reversed or too long period, a `first` past its limit)
answer BAD_USER_INPUT naming the argument; no program yet answers NOT_CONFIGURED. Resolvers
parse, call one report of app.reports, and map it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension

from app import reports
from graphql_schema.context import Info
from graphql_schema.operator.reports.types import (
    BreakageReport,
    ChannelReport,
    EarnByRuleReport,
    LiabilityReport,
    LiabilitySeriesReport,
    MemberActivityReport,
    PartnerReport,
    PointsFlowReport,
    RedemptionsReport,
    ReportPeriod,
    StoreReport,
    TopEarnersReport,
)
from graphql_schema.permissions import IsAdmin
from graphql_schema.refusals import as_query

SCOPE = "reports:read"
T = TypeVar("T")
From = Annotated[date, strawberry.argument(name="from", description="The first local date.")]
To = Annotated[date, strawberry.argument(description="The last local date, included.")]


def _admin() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsAdmin(SCOPE)], use_directives=False)]


def _report(resolver: Any, description: str) -> Any:
    return strawberry.field(resolver=resolver, extensions=_admin(), description=description)


async def _run(work: Awaitable[T]) -> T:
    return await as_query(lambda: work)


async def _liability(
    info: Info, as_of: datetime | None = None, date: date | None = None
) -> LiabilityReport:
    runtime = info.context.runtime
    found = await _run(reports.liability_as_of(runtime.mongo, runtime.clock, at=as_of, on=date))
    return LiabilityReport.of(found)


async def _liability_series(info: Info, from_: From, to: To) -> LiabilitySeriesReport:
    mongo = info.context.runtime.mongo
    return LiabilitySeriesReport.of(await _run(reports.liability_series(mongo, from_, to)))


async def _points_flow(info: Info, by: ReportPeriod, from_: From, to: To) -> PointsFlowReport:
    mongo = info.context.runtime.mongo
    period = reports.Period(by.value)
    return PointsFlowReport.of(await _run(reports.points_flow(mongo, from_, to, period)))


async def _breakage(info: Info, from_: From, to: To) -> BreakageReport:
    mongo = info.context.runtime.mongo
    return BreakageReport.of(await _run(reports.breakage(mongo, from_, to)))


async def _earn_by_rule(info: Info, from_: From, to: To) -> EarnByRuleReport:
    mongo = info.context.runtime.mongo
    return EarnByRuleReport.of(await _run(reports.earn_by_rule(mongo, from_, to)))


async def _by_partner(info: Info, from_: From, to: To) -> PartnerReport:
    mongo = info.context.runtime.mongo
    return PartnerReport.of(await _run(reports.by_partner(mongo, from_, to)))


async def _by_channel(info: Info, from_: From, to: To) -> ChannelReport:
    mongo = info.context.runtime.mongo
    return ChannelReport.of(await _run(reports.by_channel(mongo, from_, to)))


async def _by_store(info: Info, from_: From, to: To) -> StoreReport:
    mongo = info.context.runtime.mongo
    return StoreReport.of(await _run(reports.by_store(mongo, from_, to)))


async def _top_earners(info: Info, from_: From, to: To, first: int = 20) -> TopEarnersReport:
    mongo = info.context.runtime.mongo
    return TopEarnersReport.of(await _run(reports.top_earners(mongo, from_, to, first)))


async def _member_activity(info: Info, dormant_days: int) -> MemberActivityReport:
    runtime = info.context.runtime
    found = await _run(reports.member_activity(runtime.mongo, runtime.clock, dormant_days))
    return MemberActivityReport.of(found)


async def _redemptions_by_reward(
    info: Info, from_: From, to: To, first: int = 100
) -> RedemptionsReport:
    mongo = info.context.runtime.mongo
    found = await _run(reports.redemptions_by_reward(mongo, from_, to, first))
    return RedemptionsReport.of(found)


@strawberry.type(
    description="Operators' reports (admin scope reports:read). Dates are local "
    "dates in the program's time zone, both ends included."
)
class Reports:
    liability: LiabilityReport = _report(
        _liability,
        "Outstanding liability as of `asOf`, or at the end of the local day `date`, or now.",
    )
    liability_series: LiabilitySeriesReport = _report(
        _liability_series,
        "The liability at the end of each local day, each at that day's "
        "point value (366 days at most).",
    )
    points_flow: PointsFlowReport = _report(
        _points_flow,
        "Points issued, redeemed, expired, adjusted, reversed and cleared per day "
        "(366 days at most), week (5 years) or month (10 years).",
    )
    breakage: BreakageReport = _report(_breakage, "Expired ÷ issued (10 years at most).")
    earn_by_rule: EarnByRuleReport = _report(
        _earn_by_rule, "Points issued per earn rule and campaign (366 days at most)."
    )
    by_partner: PartnerReport = _report(_by_partner, "Points per partner (366 days at most).")
    by_channel: ChannelReport = _report(
        _by_channel, "Points per channel, as each entry names it (366 days at most)."
    )
    by_store: StoreReport = _report(
        _by_store, "Points per store, as each purchase's till named it (366 days at most)."
    )
    top_earners: TopEarnersReport = _report(
        _top_earners, "The members who earned the most (first: 1 to 100; 366 days at most)."
    )
    member_activity: MemberActivityReport = _report(
        _member_activity, "Members active within `dormantDays` (1 to 3660) and dormant ones, now."
    )
    redemptions_by_reward: RedemptionsReport = _report(
        _redemptions_by_reward,
        "Redemptions per reward, most points first (first: 1 to 500; 366 days at most).",
    )


def _reports() -> Reports:
    return Reports()


reports_field: Reports | None = strawberry.field(
    resolver=_reports,
    extensions=_admin(),
    description="Operators: reports on points, liability, members and rewards (admin scope "
    "reports:read).",
)
