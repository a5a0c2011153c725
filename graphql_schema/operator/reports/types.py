"""The reports' GraphQL types: rows as the app's reports hold them, and each report's `csv`.

Point sums over a whole program outgrow GraphQL's 32-bit Int: they are BigInt (a JSON number,
exact up to 2^53). Money and rates are decimal strings, never floats.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry

from app import reports
from graphql_schema.ids import to_global_id
from graphql_schema.scalars import BigInt


def _csv(root: Any) -> str:
    table: reports.Table = root.report.table()
    return reports.to_csv(table)


def csv_field(what: str) -> Any:
    return strawberry.field(resolver=_csv, description=f"The report as CSV: {what}.")


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


ReportPeriod = reports.Period
strawberry.enum(
    ReportPeriod,
    name="ReportPeriod",
    description="A report's calendar period, in the program's time zone.",
)


@strawberry.type(description="Points members hold as of an instant, and their value in money.")
class LiabilityReport:
    as_of: datetime = strawberry.field(description="The last instant counted.")
    points: BigInt = strawberry.field(
        description="Available + pending + held points at asOf: Σ (points + debt change) of "
        "every entry that occurred by then."
    )
    available: BigInt = strawberry.field(
        description="Of points, those members could spend at asOf: points − pending − held."
    )
    pending: BigInt = strawberry.field(
        description="Of points, those inside a return window at asOf (earned by then, available "
        "after it), whenever a job marked them available."
    )
    held: BigInt = strawberry.field(
        description="Of points, those reserved at asOf by a checkout's hold open then."
    )
    debt: BigInt = strawberry.field(description="Points members owe after refunds; not netted.")
    net_points: BigInt = strawberry.field(description="Σ entry points: points − debt.")
    point_value: str = strawberry.field(description="Money one point was worth at asOf.")
    money: str = strawberry.field(description="points × pointValue, rounded once, a decimal.")
    currency: str
    program_version: int = strawberry.field(description="The program version in force at asOf.")
    report: strawberry.Private[reports.Liability]

    @classmethod
    def of(cls, found: reports.Liability) -> LiabilityReport:
        return cls(
            as_of=found.as_of,
            points=BigInt(found.points),
            available=BigInt(found.available),
            pending=BigInt(found.pending),
            held=BigInt(found.held),
            debt=BigInt(found.debt),
            net_points=BigInt(found.net_points),
            point_value=f"{found.value.value:f}",
            money=f"{found.money:f}",
            currency=found.value.currency,
            program_version=found.value.version,
            report=found,
        )

    csv: str = csv_field("a header and one row")


@strawberry.type(description="The liability at the end of one local day.")
class LiabilityDay:
    date: date
    liability: LiabilityReport


@strawberry.type(description="The liability at the end of each local day of a period.")
class LiabilitySeriesReport:
    days: list[LiabilityDay]
    report: strawberry.Private[reports.LiabilitySeries]

    @classmethod
    def of(cls, found: reports.LiabilitySeries) -> LiabilitySeriesReport:
        days = [LiabilityDay(date=on, liability=LiabilityReport.of(day)) for on, day in found.days]
        return cls(days=days, report=found)

    csv: str = csv_field("a header and one row a day")


@strawberry.type(
    description="What the entries of one period moved, in points (all positive but net)."
)
class PointsFlowRow:
    period: date = strawberry.field(description="The period's first local date.")
    start: date = strawberry.field(description="The first date counted (inside the report).")
    end: date = strawberry.field(description="The last date counted.")
    issued: BigInt
    redeemed: BigInt
    expired: BigInt
    adjusted_in: BigInt
    adjusted_out: BigInt
    reversed: BigInt = strawberry.field(description="Points refunds took back.")
    cleared: BigInt = strawberry.field(description="Points taken by 清零.")
    net: BigInt = strawberry.field(description="The signed sum of every entry of the period.")
    entries: int

    @classmethod
    def of(cls, row: reports.FlowRow) -> PointsFlowRow:
        big = {
            name: BigInt(getattr(row, name))
            for name in (
                "issued",
                "redeemed",
                "expired",
                "adjusted_in",
                "adjusted_out",
                "reversed",
                "cleared",
                "net",
            )
        }
        return cls(period=row.period, start=row.start, end=row.end, entries=row.entries, **big)


@strawberry.type(description="Points issued, redeemed, expired, adjusted, reversed per period.")
class PointsFlowReport:
    by: ReportPeriod
    rows: list[PointsFlowRow]
    report: strawberry.Private[reports.PointsFlow]

    @classmethod
    def of(cls, found: reports.PointsFlow) -> PointsFlowReport:
        rows = [PointsFlowRow.of(row) for row in found.rows]
        return cls(by=found.by, rows=rows, report=found)

    csv: str = csv_field("a header and one row a period")


@strawberry.type(description="Expired ÷ issued over a period.")
class BreakageReport:
    from_: date = strawberry.field(name="from")
    to: date
    issued: BigInt
    expired: BigInt
    rate: str | None = strawberry.field(description="A decimal to 4 places; null if none issued.")
    report: strawberry.Private[reports.Breakage]

    @classmethod
    def of(cls, found: reports.Breakage) -> BreakageReport:
        return cls(
            from_=found.first,
            to=found.last,
            issued=BigInt(found.issued),
            expired=BigInt(found.expired),
            rate=_decimal(found.rate),
            report=found,
        )

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="Points one earn rule or campaign gave in a period.")
class EarnRuleRow:
    rule: str = strawberry.field(description="base, rule:<id>, tier:<code>, campaign:<id>, ...")
    campaign: str | None = strawberry.field(description="The campaign's id, for campaign rows.")
    points: BigInt
    rows: int = strawberry.field(description="Breakdown rows (order lines) it gave points on.")


@strawberry.type(description="Points issued per earn rule and campaign over a period.")
class EarnByRuleReport:
    rows: list[EarnRuleRow]
    report: strawberry.Private[reports.EarnByRule]

    @classmethod
    def of(cls, found: reports.EarnByRule) -> EarnByRuleReport:
        rows = [
            EarnRuleRow(rule=r.rule, campaign=r.campaign, points=BigInt(r.points), rows=r.rows)
            for r in found.rows
        ]
        return cls(rows=rows, report=found)

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="What one partner's requests moved in a period.")
class PartnerReportRow:
    partner_id: str
    name: str | None
    issued: BigInt
    redeemed: BigInt
    reversed: BigInt
    given_back: BigInt = strawberry.field(description="Points that paid for refunded orders.")
    entries: int


@strawberry.type(description="Points per partner over a period.")
class PartnerReport:
    rows: list[PartnerReportRow]
    report: strawberry.Private[reports.ByPartner]

    @classmethod
    def of(cls, found: reports.ByPartner) -> PartnerReport:
        rows = [
            PartnerReportRow(
                partner_id=r.partner,
                name=r.name,
                issued=BigInt(r.issued),
                redeemed=BigInt(r.redeemed),
                reversed=BigInt(r.reversed),
                given_back=BigInt(r.given_back),
                entries=r.entries,
            )
            for r in found.rows
        ]
        return cls(rows=rows, report=found)

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="What the entries of one channel moved in a period.")
class ChannelReportRow:
    channel: str = strawberry.field(
        description='As the entries name it; "none" when they name none.'
    )
    issued: BigInt
    redeemed: BigInt
    reversed: BigInt
    entries: int


@strawberry.type(description="Points per channel over a period.")
class ChannelReport:
    rows: list[ChannelReportRow]
    report: strawberry.Private[reports.ByChannel]

    @classmethod
    def of(cls, found: reports.ByChannel) -> ChannelReport:
        rows = [
            ChannelReportRow(
                channel=r.channel,
                issued=BigInt(r.issued),
                redeemed=BigInt(r.redeemed),
                reversed=BigInt(r.reversed),
                entries=r.entries,
            )
            for r in found.rows
        ]
        return cls(rows=rows, report=found)

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="What the purchases of one store earned in a period.")
class StoreReportRow:
    store: str = strawberry.field(description="The storeId the purchases' till sent.")
    issued: BigInt
    reversed: BigInt = strawberry.field(description="Points its refunds took back.")
    entries: int


@strawberry.type(description="Points per store over a period.")
class StoreReport:
    rows: list[StoreReportRow]
    report: strawberry.Private[reports.ByStore]

    @classmethod
    def of(cls, found: reports.ByStore) -> StoreReport:
        rows = [
            StoreReportRow(
                store=r.store,
                issued=BigInt(r.issued),
                reversed=BigInt(r.reversed),
                entries=r.entries,
            )
            for r in found.rows
        ]
        return cls(rows=rows, report=found)

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="A member and the points they earned in the period.")
class TopEarner:
    rank: int
    member_id: strawberry.ID = strawberry.field(
        description="The member's id, as `member(id:)` and the points mutations take it."
    )
    points: BigInt
    earns: int


@strawberry.type(description="The members who earned the most points in a period.")
class TopEarnersReport:
    rows: list[TopEarner]
    report: strawberry.Private[reports.TopEarners]

    @classmethod
    def of(cls, found: reports.TopEarners) -> TopEarnersReport:
        rows = [
            TopEarner(
                rank=n,
                member_id=strawberry.ID(to_global_id("Member", r.member_id)),
                points=BigInt(r.points),
                earns=r.earns,
            )
            for n, r in enumerate(found.rows, 1)
        ]
        return cls(rows=rows, report=found)

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="A group of members and the points they hold.")
class MemberGroup:
    members: int
    points: BigInt


@strawberry.type(description="Active and dormant members as of now.")
class MemberActivityReport:
    as_of: datetime
    dormant_days: int
    active: MemberGroup = strawberry.field(description="Earned or spent within dormantDays.")
    dormant: MemberGroup = strawberry.field(description="No activity within dormantDays.")
    never_active: MemberGroup
    report: strawberry.Private[reports.MemberActivity]

    @classmethod
    def of(cls, found: reports.MemberActivity) -> MemberActivityReport:
        def group(g: reports.Group) -> MemberGroup:
            return MemberGroup(members=g.members, points=BigInt(g.points))

        return cls(
            as_of=found.as_of,
            dormant_days=found.dormant_days,
            active=group(found.active),
            dormant=group(found.dormant),
            never_active=group(found.never_active),
            report=found,
        )

    csv: str = csv_field("a header and its rows")


@strawberry.type(description="How often one reward was redeemed in a period.")
class RewardRedemptionRow:
    reward_id: strawberry.ID = strawberry.field(
        description="The reward's id, as `reward(id:)` and the catalog mutations take it."
    )
    name: str | None
    redemptions: int = strawberry.field(description="Redemptions not cancelled.")
    quantity: int
    points: BigInt
    cancelled: int


@strawberry.type(description="Redemptions per reward over a period, most points first.")
class RedemptionsReport:
    rows: list[RewardRedemptionRow]
    report: strawberry.Private[reports.RedemptionsByReward]

    @classmethod
    def of(cls, found: reports.RedemptionsByReward) -> RedemptionsReport:
        rows = [
            RewardRedemptionRow(
                reward_id=strawberry.ID(to_global_id("Reward", r.reward_id)),
                name=r.name,
                redemptions=r.redemptions,
                quantity=r.quantity,
                points=BigInt(r.points),
                cancelled=r.cancelled,
            )
            for r in found.rows
        ]
        return cls(rows=rows, report=found)

    csv: str = csv_field("a header and its rows")
