"""The earn-rules engine: a purchase and a member in, the points line by line out. Pure: no I/O.

How a purchase earns, in this order (docs/earning.md explains it to operators):

1. **Exclusions.** Lines whose category or SKU is excluded (gift cards, deposits, tax) earn
   nothing; the breakdown says so with a 0-point row.
2. **Base.** `base.points` per `base.per` money units, floored per line (`rounding = "line"`) or
   once for the order (`"order"`: the floored total is shared among lines by largest remainder,
   so per-line rows still add up and a refund can take a line's share back).
3. **Category and SKU rules.** Of the rules matching a line, a SKU rule wins over a category rule
   for the multiplier, and the larger multiplier among equals; the line's points become
   floor(base × m) (so 0.5 halves them, 5 makes them 5×). Fixed bonuses of every matching rule
   add up (per line, or per unit with `per_unit`).
4. **Tier.** The member's tier multiplier applies to the line's points after its rules:
   floor(points × t).
5. **Campaigns** active at the purchase's local date and time (window, recurring days, tiers,
   channels, categories): a multiplier adds floor(base × (m − 1)) per eligible line; a fixed bonus
   is one order-level row. Additive campaigns all apply; of the best_of campaigns only the one
   giving the most. A budgeted campaign gives at most what is left of its budget.
6. **Birthday.** In the member's birthday day, week (the ISO week holding it) or month.
7. **Caps.** Per order, and per member per local day (given the points earned today): what is
   above the cap is taken back in negative rows shared among lines in proportion.

Each row names the rule (`base`, `rule:<id>`, `tier:<code>`, `campaign:<id>`, `birthday`,
`cap:order`, `cap:day`, `excluded`), the line (None for order-level rows) and the program version
that computed it. Money is Decimal throughout, floors are exact; points are never negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, localcontext

from app.program.models import Birthday, Campaign, EarnRule, Program


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    line_id: str
    sku: str
    category: str
    quantity: int
    amount: Decimal  # the line's total money amount (not per unit), >= 0


@dataclass(frozen=True, slots=True)
class MemberFacts:
    tier: str
    birthday: date | None = None
    # Points the member already earned from purchases today (local day), for the daily cap.
    earned_today: int = 0
    # Whether the birthday bonus was already given this year (Birthday.once_per_year).
    birthday_bonus_taken: bool = False


@dataclass(frozen=True, slots=True)
class Purchase:
    lines: tuple[PurchaseLine, ...]
    occurred_at: datetime  # aware
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class EarnRow:
    """One row of the breakdown: the points one rule gave on one line (line_id None: the order)."""

    line_id: str | None
    rule: str  # "base", "rule:<id>", "tier:<code>", "campaign:<id>", "birthday", "cap:order", ...
    version: int  # the program version that computed it
    points: int  # a cap's row is negative
    description: str


@dataclass(frozen=True, slots=True)
class EarnResult:
    rows: tuple[EarnRow, ...]
    total: int
    # Points each campaign with a budget gave (the caller reserves them atomically).
    campaign_points: Mapping[str, int] = field(default_factory=dict)
    birthday_bonus: bool = False

    def by_line(self) -> dict[str | None, int]:
        totals: dict[str | None, int] = {}
        for row in self.rows:
            totals[row.line_id] = totals.get(row.line_id, 0) + row.points
        return totals


def floor(value: Decimal) -> int:
    with localcontext() as context:
        context.prec = 60
        return int(value.to_integral_value(rounding=ROUND_FLOOR))


def share(total: int, weights: Sequence[Decimal]) -> list[int]:
    """`total` split in proportion to `weights` by largest remainder (ties to the first);
    all zero weights give everything to nobody (a list of zeros) unless total is 0."""
    whole = sum(weights, Decimal(0))
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    with localcontext() as context:
        context.prec = 60
        exact = [total * weight / whole for weight in weights]
    parts = [floor(value) for value in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


class _Rows:
    """The breakdown being built. Points are exact Decimals until `close`: in line rounding each
    step floors as it goes; in order rounding nothing is floored until the order's total is, so
    moving money between lines never moves points between them by rounding alone."""

    def __init__(self, program: Program) -> None:
        self.version = program.version
        self.per_order = program.earn.base.rounding == "order"
        self.rows: list[tuple[str | None, str, Decimal, str]] = []
        self.base: dict[str, Decimal] = {}

    def step(self, value: Decimal) -> Decimal:
        return value if self.per_order else Decimal(floor(value))

    def add(self, line: str | None, rule: str, points: Decimal | int, description: str) -> None:
        self.rows.append((line, rule, Decimal(points), description))

    def close(self) -> list[EarnRow]:
        """Whole points: in order rounding the floored total is shared among the lines by their
        exact points, and within a line among its rows, by largest remainder."""
        points = [value for _, _, value, _ in self.rows]
        if self.per_order:
            points = _whole_rows([line for line, _, _, _ in self.rows], points)
        return [
            EarnRow(line, rule, self.version, int(value), description)
            for (line, rule, _, description), value in zip(self.rows, points, strict=True)
        ]


def _whole_rows(lines: Sequence[str | None], points: Sequence[Decimal]) -> list[Decimal]:
    exact: dict[str | None, Decimal] = {}
    for line, value in zip(lines, points, strict=True):
        exact[line] = exact.get(line, Decimal(0)) + value
    lines_whole = _round_to_total(list(exact.values()), floor(sum(exact.values(), Decimal(0))))
    whole = [Decimal(0)] * len(points)
    for key, target in zip(exact, lines_whole, strict=True):
        members = [i for i, line in enumerate(lines) if line == key]
        rounded = _round_to_total([points[i] for i in members], target)
        for i, row_points in zip(members, rounded, strict=True):
            whole[i] = Decimal(row_points)
    return whole


def _round_to_total(values: Sequence[Decimal], total: int) -> list[int]:
    """Each value floored, then the `total` reached by adding 1 to the largest fractions."""
    whole = [floor(value) for value in values]
    order = sorted(range(len(values)), key=lambda i: (-(values[i] - whole[i]), i))
    for i in order[: total - sum(whole)]:
        whole[i] += 1
    return whole


def compute_earn(
    program: Program,
    purchase: Purchase,
    member: MemberFacts,
    *,
    campaign_remaining: Mapping[str, int] | None = None,
) -> EarnResult:
    """The points a purchase earns. `campaign_remaining` gives what is left of each budgeted
    campaign (absent: unlimited); a campaign never gives more than what is left."""
    rows = _Rows(program)
    earning = _earning_lines(program, purchase.lines, rows)
    _base(program, earning, rows)
    for line in earning:
        _line_rules(program, line, member, rows)
    campaign_points = _campaigns(program, purchase, member, earning, rows, campaign_remaining or {})
    birthday = _birthday(program, purchase, member, earning, rows)
    breakdown = _caps(program, member, rows.close())
    total = sum(row.points for row in breakdown)
    return EarnResult(tuple(breakdown), total, campaign_points, birthday)


def _earning_lines(
    program: Program, lines: Iterable[PurchaseLine], rows: _Rows
) -> list[PurchaseLine]:
    excluded = program.earn.exclusions
    earning = []
    for line in lines:
        if line.category in excluded.categories or line.sku in excluded.skus:
            rows.add(line.line_id, "excluded", 0, f"{line.category} {line.sku} earns no points")
        else:
            earning.append(line)
    return earning


def _base(program: Program, lines: Sequence[PurchaseLine], rows: _Rows) -> None:
    base = program.earn.base
    rate = f"{base.points} per {base.per.normalize():f} {program.money_currency}"
    for line in lines:
        line_points = rows.step(_exact(line.amount * base.points / base.per))
        rows.base[line.line_id] = line_points
        description = f"{rate} on {line.amount.normalize():f} {program.money_currency}"
        rows.add(line.line_id, "base", line_points, description)


def _exact(value: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return +value


def _line_rules(program: Program, line: PurchaseLine, member: MemberFacts, rows: _Rows) -> None:
    base = rows.base[line.line_id]
    matching = [rule for rule in program.earn.rules if _rule_matches(rule, line)]
    points = base
    multiplied = [rule for rule in matching if rule.multiplier is not None]
    if multiplied:
        rule = max(multiplied, key=lambda r: (bool(r.skus and line.sku in r.skus), r.multiplier))
        assert rule.multiplier is not None
        points = rows.step(base * rule.multiplier)
        rows.add(
            line.line_id,
            f"rule:{rule.id}",
            points - base,
            _named(rule, f"×{_num(rule.multiplier)}"),
        )
    for rule in matching:
        if rule.bonus_points is not None:
            bonus = rule.bonus_points * (line.quantity if rule.per_unit else 1)
            points += bonus
            rows.add(line.line_id, f"rule:{rule.id}", bonus, _named(rule, f"+{bonus}"))
    tier = program.tier(member.tier)
    if tier.multiplier != 1:
        extra = rows.step(points * tier.multiplier) - points
        rows.add(line.line_id, f"tier:{tier.code}", extra, f"{tier.name} ×{_num(tier.multiplier)}")


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _rule_matches(rule: EarnRule, line: PurchaseLine) -> bool:
    return line.category in rule.categories or line.sku in rule.skus


def _named(rule: EarnRule, effect: str) -> str:
    return f"{rule.name or rule.id} {effect}"


def _campaigns(
    program: Program,
    purchase: Purchase,
    member: MemberFacts,
    lines: Sequence[PurchaseLine],
    rows: _Rows,
    remaining: Mapping[str, int],
) -> dict[str, int]:
    """Apply the active campaigns; returns what each budgeted one gave."""
    offers = []
    for campaign in program.campaigns:
        if _campaign_active(program, campaign, purchase, member):
            offer = _campaign_offer(campaign, lines, rows, remaining.get(campaign.id))
            if sum(points for _, points in offer) > 0:
                offers.append((campaign, offer))
    best_of = [item for item in offers if item[0].stacking == "best_of"]
    chosen = [item for item in offers if item[0].stacking == "additive"]
    if best_of:
        chosen.append(max(best_of, key=lambda item: sum(points for _, points in item[1])))
    given: dict[str, int] = {}
    for campaign, offer in chosen:
        for line_id, points in offer:
            rows.add(line_id, f"campaign:{campaign.id}", points, campaign.name)
        if campaign.budget is not None:
            given[campaign.id] = int(sum(points for _, points in offer))
    return given


def _campaign_offer(
    campaign: Campaign, lines: Sequence[PurchaseLine], rows: _Rows, left: int | None
) -> list[tuple[str | None, Decimal]]:
    """The rows a campaign would add, cut to what is left of its budget."""
    offer: list[tuple[str | None, Decimal]] = []
    eligible = [
        line for line in lines if not campaign.categories or line.category in campaign.categories
    ]
    if campaign.multiplier is not None and campaign.multiplier > 1:
        for line in eligible:
            extra = rows.base[line.line_id] * (campaign.multiplier - 1)
            # A budgeted campaign gives whole points, so what it reserves is what it gives.
            extra = Decimal(floor(extra)) if left is not None else rows.step(extra)
            if extra > 0:
                offer.append((line.line_id, extra))
    if campaign.bonus_points is not None and eligible:
        offer.append((None, Decimal(campaign.bonus_points)))
    if left is None:
        return offer
    cut: list[tuple[str | None, Decimal]] = []
    for line_id, points in offer:
        taken = min(points, Decimal(max(left, 0)))
        if taken > 0:
            cut.append((line_id, taken))
        left -= int(taken)
    return cut


def _campaign_active(
    program: Program, campaign: Campaign, purchase: Purchase, member: MemberFacts
) -> bool:
    at = purchase.occurred_at
    if campaign.starts_at is not None and at < campaign.starts_at:
        return False
    if campaign.ends_at is not None and at >= campaign.ends_at:
        return False
    if campaign.tiers and member.tier not in campaign.tiers:
        return False
    if campaign.channels and purchase.channel not in campaign.channels:
        return False
    recurrence = campaign.recurrence
    if recurrence.empty:
        return True
    day = program.local_date(at)
    return (
        day.isoweekday() in recurrence.weekdays
        or day.day in recurrence.month_days
        or f"{day.month:02d}-{day.day:02d}" in recurrence.dates
    )


def _birthday(
    program: Program,
    purchase: Purchase,
    member: MemberFacts,
    lines: Sequence[PurchaseLine],
    rows: _Rows,
) -> bool:
    bonus = program.earn.birthday
    if bonus is None or member.birthday is None or not lines:
        return False
    if bonus.once_per_year and member.birthday_bonus_taken:
        return False
    if not in_birthday_window(bonus, member.birthday, program.local_date(purchase.occurred_at)):
        return False
    if bonus.multiplier is not None and bonus.multiplier > 1:
        for line in lines:
            extra = rows.step(rows.base[line.line_id] * (bonus.multiplier - 1))
            if extra > 0:
                rows.add(line.line_id, "birthday", extra, f"Birthday ×{_num(bonus.multiplier)}")
    if bonus.bonus_points is not None:
        rows.add(None, "birthday", bonus.bonus_points, "Birthday bonus")
    return True


def birthday_in(year: int, birthday: date) -> date:
    """The birthday's date in `year`: 29 February is kept on 28 February in common years."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def in_birthday_window(bonus: Birthday, birthday: date, day: date) -> bool:
    this_year = birthday_in(day.year, birthday)
    if bonus.window == "day":
        return day == this_year
    if bonus.window == "week":
        return day.isocalendar()[:2] == this_year.isocalendar()[:2]
    return day.month == birthday.month


def _caps(program: Program, member: MemberFacts, rows: list[EarnRow]) -> list[EarnRow]:
    caps = program.earn.caps
    limits = []
    if caps.per_order is not None:
        limits.append((caps.per_order, "cap:order", f"Capped at {caps.per_order} per order"))
    if caps.per_member_per_day is not None:
        left = max(caps.per_member_per_day - member.earned_today, 0)
        limits.append((left, "cap:day", f"Capped at {caps.per_member_per_day} per day"))
    version = program.version
    for limit, rule, description in limits:
        totals: dict[str | None, int] = {}
        for row in rows:
            totals[row.line_id] = totals.get(row.line_id, 0) + row.points
        if sum(totals.values()) <= limit:
            continue
        keys = list(totals)
        kept = share(limit, [Decimal(max(totals[key], 0)) for key in keys])
        for key, keep in zip(keys, kept, strict=True):
            if totals[key] > keep:
                rows.append(EarnRow(key, rule, version, keep - totals[key], description))
    return rows
