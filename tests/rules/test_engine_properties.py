"""Properties of the earn-rules engine over random programs, purchases and members."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

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

CATEGORIES = ("food", "dining", "apparel", "gift-card", "tax")
SKUS = ("A", "B", "C")
START = datetime(2026, 1, 1, tzinfo=UTC)

multipliers = st.decimals(min_value=0, max_value=10, places=2)
amounts = st.decimals(min_value=0, max_value=100_000, places=2)
maybe_bonus = st.none() | st.integers(min_value=1, max_value=500)


@st.composite
def earn_rules(draw: st.DrawFn) -> EarnRules:
    rules = []
    for index in range(draw(st.integers(0, 3))):
        multiplier = draw(st.none() | multipliers)
        bonus = draw(maybe_bonus) if multiplier is not None else draw(st.integers(1, 500))
        rules.append(
            EarnRule(
                id=f"r{index}",
                categories=tuple(
                    draw(st.sets(st.sampled_from(CATEGORIES), min_size=1, max_size=2))
                ),
                skus=tuple(draw(st.sets(st.sampled_from(SKUS), max_size=1))),
                multiplier=multiplier,
                bonus_points=bonus,
                per_unit=draw(st.booleans()),
            )
        )
    birthday = None
    if draw(st.booleans()):
        birthday = Birthday(
            window=draw(st.sampled_from(["day", "week", "month"])),
            bonus_points=draw(st.integers(1, 100)),
        )
    return EarnRules(
        base=BaseRate(
            points=draw(st.integers(0, 10)),
            per=draw(st.decimals(min_value=Decimal("0.5"), max_value=50, places=1)),
            rounding=draw(st.sampled_from(["line", "order"])),
        ),
        exclusions=Exclusions(categories=("gift-card",) if draw(st.booleans()) else ()),
        rules=tuple(rules),
        birthday=birthday,
        caps=Caps(
            per_order=draw(st.none() | st.integers(1, 5000)),
            per_member_per_day=draw(st.none() | st.integers(1, 20000)),
        ),
    )


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[Campaign, ...]:
    found = []
    for index in range(draw(st.integers(0, 3))):
        multiplier = draw(st.none() | st.decimals(min_value=1, max_value=5, places=1))
        found.append(
            Campaign(
                id=f"c{index}",
                name=f"Campaign {index}",
                recurrence=Recurrence(weekdays=tuple(draw(st.sets(st.integers(1, 7), max_size=3)))),
                multiplier=multiplier,
                bonus_points=draw(maybe_bonus)
                if multiplier is not None
                else draw(st.integers(1, 300)),
                stacking=draw(st.sampled_from(["additive", "best_of"])),
                budget=draw(st.none() | st.integers(1, 3000)),
                categories=tuple(draw(st.sets(st.sampled_from(CATEGORIES), max_size=2))),
            )
        )
    return tuple(found)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    return Program(
        name="P",
        currency="pts",
        timezone=draw(st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"])),
        tiers=(
            Tier(code="base", name="Base", threshold=0),
            Tier(code="top", name="Top", threshold=100, multiplier=draw(multipliers)),
        ),
        earn=draw(earn_rules()),
        campaigns=draw(campaigns()),
    )


@st.composite
def purchases(draw: st.DrawFn) -> Purchase:
    count = draw(st.integers(1, 6))
    lines = tuple(
        PurchaseLine(
            line_id=f"L{index}",
            sku=draw(st.sampled_from(SKUS)),
            category=draw(st.sampled_from(CATEGORIES)),
            quantity=draw(st.integers(1, 5)),
            amount=draw(amounts),
        )
        for index in range(count)
    )
    at = START + timedelta(minutes=draw(st.integers(0, 366 * 24 * 60)))
    return Purchase(lines, at, draw(st.sampled_from([None, "app", "pos"])))


members = st.builds(
    MemberFacts,
    tier=st.sampled_from(["base", "top"]),
    birthday=st.none() | st.dates(min_value=date(1950, 1, 1), max_value=date(2008, 12, 31)),
    earned_today=st.integers(0, 20_000),
    birthday_bonus_taken=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(programs(), purchases(), members)
def test_points_are_never_negative_on_any_line_and_the_lines_add_up_to_the_total(
    program: Program, purchase: Purchase, member: MemberFacts
) -> None:
    result = compute_earn(program, purchase, member)
    assert result.total >= 0
    assert sum(result.by_line().values()) == result.total == sum(row.points for row in result.rows)
    assert all(points >= 0 for points in result.by_line().values())
    assert {row.line_id for row in result.rows} <= {line.line_id for line in purchase.lines} | {
        None
    }


@settings(max_examples=300, deadline=None)
@given(programs(), purchases(), members, st.integers(0, 5), amounts)
def test_more_money_on_a_line_never_earns_fewer_points(
    program: Program, purchase: Purchase, member: MemberFacts, index: int, more: Decimal
) -> None:
    lines = list(purchase.lines)
    index %= len(lines)
    bigger = lines[index]
    lines[index] = PurchaseLine(
        bigger.line_id, bigger.sku, bigger.category, bigger.quantity, bigger.amount + more
    )
    richer = Purchase(tuple(lines), purchase.occurred_at, purchase.channel)
    assert (
        compute_earn(program, richer, member).total >= compute_earn(program, purchase, member).total
    )


@settings(max_examples=200, deadline=None)
@given(
    purchases(), st.integers(0, 10), st.decimals(min_value=Decimal("0.5"), max_value=50, places=1)
)
def test_base_points_round_down_per_line_or_per_order_as_configured(
    purchase: Purchase, points: int, per: Decimal
) -> None:
    exact = [line.amount * points / per for line in purchase.lines]
    for rounding in ("line", "order"):
        program = Program(
            name="P",
            currency="pts",
            tiers=(Tier(code="base", name="B", threshold=0),),
            earn=EarnRules(base=BaseRate(points=points, per=per, rounding=rounding)),
        )
        total = compute_earn(program, purchase, MemberFacts("base")).total
        if rounding == "line":
            assert total == sum(int(value // 1) for value in exact)
        else:
            assert total == int(sum(exact) // 1)


@settings(max_examples=200, deadline=None)
@given(programs(), st.lists(purchases(), min_size=1, max_size=15), members)
def test_a_campaign_never_gives_more_than_its_budget_over_many_purchases(
    program: Program, orders: list[Purchase], member: MemberFacts
) -> None:
    remaining = {c.id: c.budget for c in program.campaigns if c.budget is not None}
    given_total = dict.fromkeys(remaining, 0)
    for order in orders:
        result = compute_earn(program, order, member, campaign_remaining=remaining)
        for campaign_id, points in result.campaign_points.items():
            rows = sum(r.points for r in result.rows if r.rule == f"campaign:{campaign_id}")
            assert points == rows
            remaining[campaign_id] -= points
            given_total[campaign_id] += points
    for campaign in program.campaigns:
        if campaign.budget is not None:
            assert 0 <= given_total[campaign.id] <= campaign.budget
