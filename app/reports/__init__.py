"""Reports for operators: points flows by period, liability in points and money as of any date,
breakage, earns by rule and campaign, points by partner, top earners, active and dormant
members, redemptions by reward. Each report is a frozen value with `table()` (CSV through
`to_csv`); all sums are computed by the database (docs/operators.md, "Reports").
"""

from app.reports.activity import (
    MAX_DORMANT_DAYS,
    Group,
    MemberActivity,
    keep_activity,
    member_activity,
)
from app.reports.breakdowns import (
    ByChannel,
    ByPartner,
    ByStore,
    ChannelRow,
    EarnByRule,
    PartnerRow,
    RuleRow,
    StoreRow,
    TopEarners,
    by_channel,
    by_partner,
    by_store,
    earn_by_rule,
    top_earners,
)
from app.reports.earners import MAX_EARNERS, Earner, keep_last_month
from app.reports.flows import Breakage, FlowRow, PointsFlow, breakage, points_flow
from app.reports.liability import Liability, LiabilitySeries, liability_as_of, liability_series
from app.reports.periods import MAX_GROUPED, Period, ReportInvalid, ReportTooLarge
from app.reports.redemptions import (
    MAX_REWARDS,
    RedemptionsByReward,
    RewardRow,
    redemptions_by_reward,
)
from app.reports.rollup import caught_up, roll_up_ledger
from app.reports.table import Report, Table, to_csv
from app.reports.values import PointValue

__all__ = [
    "MAX_DORMANT_DAYS",
    "MAX_EARNERS",
    "MAX_GROUPED",
    "MAX_REWARDS",
    "Breakage",
    "ByChannel",
    "ByPartner",
    "ByStore",
    "ChannelRow",
    "StoreRow",
    "EarnByRule",
    "Earner",
    "FlowRow",
    "Group",
    "Liability",
    "LiabilitySeries",
    "MemberActivity",
    "PartnerRow",
    "Period",
    "PointValue",
    "PointsFlow",
    "RedemptionsByReward",
    "Report",
    "ReportInvalid",
    "ReportTooLarge",
    "RewardRow",
    "RuleRow",
    "Table",
    "TopEarners",
    "breakage",
    "by_channel",
    "by_partner",
    "by_store",
    "earn_by_rule",
    "keep_activity",
    "keep_last_month",
    "liability_as_of",
    "liability_series",
    "member_activity",
    "points_flow",
    "redemptions_by_reward",
    "roll_up_ledger",
    "to_csv",
    "top_earners",
    "caught_up",
]
