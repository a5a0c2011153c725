"""The earn-rules engine: worked examples from real programs, then properties over random ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from app.program import MemberFacts, Purchase, PurchaseLine, compute_earn
from app.program.models import (
    BaseRate,
    Birthday,
    Campaign,
    Caps,
    EarnRule,
    EarnRules,
    Exclusions,
    Program,
    Recurrence,
    Tier,
)

NOV_11 = datetime(2026, 11, 10, 16, 30, tzinfo=UTC)  # 00:30 on 11 November in Shanghai
ORDINARY_DAY = datetime(2026, 11, 3, 4, 0, tzinfo=UTC)  # a Tuesday


def program(**changes: object) -> Program:
    fields: dict[str, object] = {
        "name": "Mall",
        "currency": "积分",
        "timezone": "Asia/Shanghai",
        "tiers": (
            Tier(code="member", name="Member", threshold=0),
            Tier(code="gold", name="Gold", threshold=5000, multiplier=Decimal("1.5")),
        ),
        "version": 7,
    }
    fields.update(changes)
    return Program.model_validate(fields)


def line(
    line_id: str, amount: str, category: str = "apparel", sku: str = "SKU", qty: int = 1
) -> PurchaseLine:
    return PurchaseLine(line_id, sku, category, qty, Decimal(amount))


def purchase(
    *lines: PurchaseLine, at: datetime = ORDINARY_DAY, channel: str | None = "app"
) -> Purchase:
    return Purchase(tuple(lines), at, channel)


MEMBER = MemberFacts(tier="member")


def test_one_point_per_yuan_floors_each_line_and_excludes_gift_cards() -> None:
    mall = program(earn=EarnRules(exclusions=Exclusions(categories=("gift-card",))))
    result = compute_earn(
        mall,
        purchase(line("1", "399.99"), line("2", "0.99"), line("3", "500", "gift-card")),
        MEMBER,
    )
    assert result.total == 399
    assert result.by_line() == {"1": 399, "2": 0, "3": 0}
    excluded = [row for row in result.rows if row.rule == "excluded"]
    assert [row.line_id for row in excluded] == ["3"]
    assert all(row.version == 7 for row in result.rows)


def test_order_rounding_floors_once_and_shares_the_points_among_lines() -> None:
    by_order = program(earn=EarnRules(base=BaseRate(rounding="order")))
    result = compute_earn(by_order, purchase(line("1", "0.60"), line("2", "0.60")), MEMBER)
    assert result.total == 1
    assert sorted(result.by_line().values()) == [0, 1]
    by_line = compute_earn(program(), purchase(line("1", "0.60"), line("2", "0.60")), MEMBER)
    assert by_line.total == 0


def test_a_bank_card_gives_one_point_per_20_yuan_and_five_times_on_dining() -> None:
    bank = program(
        earn=EarnRules(
            base=BaseRate(points=1, per=Decimal(20)),
            rules=(EarnRule(id="dining", categories=("dining",), multiplier=Decimal(5)),),
        )
    )
    result = compute_earn(
        bank, purchase(line("1", "399", "dining"), line("2", "399", "fuel")), MEMBER
    )
    assert result.by_line() == {"1": 95, "2": 19}
    assert [(row.rule, row.points) for row in result.rows if row.line_id == "1"] == [
        ("base", 19),
        ("rule:dining", 76),
    ]


def test_a_sku_rule_beats_a_category_rule_and_fixed_bonuses_add_up() -> None:
    rules = (
        EarnRule(id="shoes", categories=("shoes",), multiplier=Decimal(3)),
        EarnRule(id="sale-sku", skus=("S-1",), multiplier=Decimal("0.5")),
        EarnRule(id="launch", skus=("S-1",), bonus_points=10, per_unit=True),
    )
    mall = program(earn=EarnRules(rules=rules))
    result = compute_earn(mall, purchase(line("1", "100", "shoes", "S-1", qty=2)), MEMBER)
    assert result.total == 50 + 20


def test_the_tier_multiplier_applies_after_the_line_rules() -> None:
    mall = program(
        earn=EarnRules(rules=(EarnRule(id="x", categories=("apparel",), bonus_points=10),))
    )
    gold = MemberFacts(tier="gold")
    result = compute_earn(mall, purchase(line("1", "101")), gold)
    assert result.total == 166  # floor((101 + 10) × 1.5)
    assert [row.rule for row in result.rows] == ["base", "rule:x", "tier:gold"]


def test_double_points_on_11_11_in_the_program_time_zone_not_in_utc() -> None:
    double_11 = Campaign(
        id="double-11",
        name="Double 11",
        recurrence=Recurrence(dates=("11-11",)),
        multiplier=Decimal(2),
    )
    mall = program(campaigns=(double_11,))
    assert compute_earn(mall, purchase(line("1", "100"), at=NOV_11), MEMBER).total == 200
    utc_11 = datetime(2026, 11, 11, 16, 30, tzinfo=UTC)  # already 12 November in Shanghai
    assert compute_earn(mall, purchase(line("1", "100"), at=utc_11), MEMBER).total == 100


def test_member_days_recur_on_wednesdays_and_the_18th_for_chosen_tiers_and_channels() -> None:
    member_day = Campaign(
        id="member-day",
        name="Member day",
        recurrence=Recurrence(weekdays=(3,), month_days=(18,)),
        tiers=("gold",),
        channels=("app",),
        bonus_points=50,
    )
    mall = program(campaigns=(member_day,))
    wednesday = datetime(2026, 11, 4, 2, tzinfo=UTC)
    the_18th = datetime(2026, 11, 18, 2, tzinfo=UTC)
    gold = MemberFacts(tier="gold")
    assert compute_earn(mall, purchase(line("1", "10"), at=wednesday), gold).total == 15 + 50
    assert compute_earn(mall, purchase(line("1", "10"), at=the_18th), gold).total == 15 + 50
    assert compute_earn(mall, purchase(line("1", "10"), at=ORDINARY_DAY), gold).total == 15
    assert compute_earn(mall, purchase(line("1", "10"), at=wednesday), MEMBER).total == 10
    pos = purchase(line("1", "10"), at=wednesday, channel="pos")
    assert compute_earn(mall, pos, gold).total == 15


def test_best_of_campaigns_give_only_the_largest_and_additive_ones_stack() -> None:
    campaigns = (
        Campaign(id="triple", name="Triple", multiplier=Decimal(3), stacking="best_of"),
        Campaign(id="bonus", name="Bonus", bonus_points=500, stacking="best_of"),
        Campaign(id="plus", name="Plus", bonus_points=7),
    )
    result = compute_earn(program(campaigns=campaigns), purchase(line("1", "100")), MEMBER)
    assert {row.rule for row in result.rows} == {"base", "campaign:bonus", "campaign:plus"}
    assert result.total == 100 + 500 + 7


def test_a_campaign_gives_no_more_than_what_is_left_of_its_budget() -> None:
    double = Campaign(id="double", name="Double", multiplier=Decimal(2), budget=1000)
    mall = program(campaigns=(double,))
    order = purchase(line("1", "100"), line("2", "100"))
    full = compute_earn(mall, order, MEMBER, campaign_remaining={"double": 1000})
    assert full.campaign_points == {"double": 200}
    last = compute_earn(mall, order, MEMBER, campaign_remaining={"double": 150})
    assert last.campaign_points == {"double": 150}
    assert last.total == 350
    spent = compute_earn(mall, order, MEMBER, campaign_remaining={"double": 0})
    assert spent.total == 200 and spent.campaign_points == {}


def test_a_birthday_bonus_in_the_birthday_week_once_a_year() -> None:
    mall = program(earn=EarnRules(birthday=Birthday(window="week", bonus_points=88)))
    born = MemberFacts(tier="member", birthday=date(1990, 11, 5))  # Thursday of that week
    assert compute_earn(mall, purchase(line("1", "10")), born).total == 98
    taken = MemberFacts(tier="member", birthday=date(1990, 11, 5), birthday_bonus_taken=True)
    assert compute_earn(mall, purchase(line("1", "10")), taken).total == 10
    other_week = MemberFacts(tier="member", birthday=date(1990, 11, 12))
    assert compute_earn(mall, purchase(line("1", "10")), other_week).total == 10


def test_a_leap_day_birthday_falls_on_28_february_in_common_years() -> None:
    mall = program(earn=EarnRules(birthday=Birthday(window="day", multiplier=Decimal(2))))
    leap = MemberFacts(tier="member", birthday=date(2000, 2, 29))
    feb_28 = datetime(2027, 2, 28, 4, tzinfo=UTC)
    assert compute_earn(mall, purchase(line("1", "10"), at=feb_28), leap).total == 20


def test_caps_per_order_and_per_day_take_back_the_excess_in_proportion() -> None:
    mall = program(earn=EarnRules(caps=Caps(per_order=300, per_member_per_day=1000)))
    result = compute_earn(mall, purchase(line("1", "300"), line("2", "600")), MEMBER)
    assert result.total == 300
    assert result.by_line() == {"1": 100, "2": 200}
    busy = MemberFacts(tier="member", earned_today=900)
    assert compute_earn(mall, purchase(line("1", "600")), busy).total == 100
    assert (
        compute_earn(
            mall, purchase(line("1", "600")), MemberFacts("member", earned_today=5000)
        ).total
        == 0
    )


def test_a_line_its_rules_bring_to_exactly_zero_earns_zero_not_minus_one() -> None:
    """Found by the property test: ×0.01 on a line of 0.02 CNY at 1 point per 0.6, then a ×0
    tier, in order rounding. The rows summed at Decimal's working precision came to -1e-27, which
    floored to a line, and an order, of -1 point."""
    shop = program(
        tiers=(
            Tier(code="member", name="Member", threshold=0),
            Tier(code="top", name="Top", threshold=100, multiplier=Decimal("0")),
        ),
        earn=EarnRules(
            base=BaseRate(points=1, per=Decimal("0.6"), rounding="order"),
            rules=(EarnRule(id="r0", categories=("dining",), multiplier=Decimal("0.01")),),
        ),
    )
    result = compute_earn(shop, purchase(line("L0", "0.02", "dining")), MemberFacts(tier="top"))
    assert result.total == 0
    assert all(points >= 0 for points in result.by_line().values())
