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

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, localcontext

from app.program.conditions import (
    Node,
    Predicate,
    Value,
    compile_condition,
    evaluate,
    facts_of,
    scopes,
)
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
    joined_on: date | None = None  # sign-up date in the program's zone
    purchases_before: int = 0  # the member's purchases before this one (nth_purchase - 1)
    # Points each rule with a cap_per_member gave the member in the rule's current period.
    rule_earned: Mapping[str, int] = field(default_factory=dict)
    member_id: str = ""  # who: a campaign's control group is drawn per member (held_out)
    segments: frozenset[str] = frozenset()  # of the segments the program's conditions name


@dataclass(frozen=True, slots=True)
class Purchase:
    lines: tuple[PurchaseLine, ...]
    occurred_at: datetime  # aware
    channel: str | None = None
    store: str | None = None
    partner: str | None = None
    payment_method: str | None = None

    @property
    def total(self) -> Decimal:
        """The order's money: its lines' amounts summed."""
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class EarnRow:
    """One row of the breakdown: the points one rule gave on one line (line_id None: the order)."""

    line_id: str | None
    rule: str  # "base", "rule:<id>", "tier:<code>", "campaign:<id>", "birthday", "cap:order", ...
    version: int  # the program version that computed it
    points: int  # a cap's row is negative
    description: str


@dataclass(frozen=True, slots=True)
class ConditionCheck:
    """A rule's or campaign's condition, checked on a line (None: the order): what previewEarn
    shows, matched or not, with the part that decided it."""

    line_id: str | None
    rule: str  # "rule:<id>" or "campaign:<id>"
    held: bool
    reason: str


@dataclass(frozen=True, slots=True)
class EarnResult:
    rows: tuple[EarnRow, ...]
    total: int
    # Points each campaign with a budget gave (the caller reserves them atomically).
    campaign_points: Mapping[str, int] = field(default_factory=dict)
    birthday_bonus: bool = False
    # Points each rule with a cap_per_member gave (counted in the member's period by the caller).
    rule_points: Mapping[str, int] = field(default_factory=dict)
    checks: tuple[ConditionCheck, ...] = ()
    # Campaigns active for the purchase whose audience the member is in, each with whether the
    # member is in its control group (given nothing by it): what campaign results count.
    reached: Mapping[str, bool] = field(default_factory=dict)

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
    # A line's exact points are never below zero, but its rows are summed at Decimal's working
    # precision: a line whose rules bring it to exactly 0 (a ×0 tier) may sum to -1e-27, which
    # would floor to a line of -1 point. Such a line is 0.
    line_points = [max(value, Decimal(0)) for value in exact.values()]
    lines_whole = _round_to_total(line_points, floor(sum(line_points, Decimal(0))))
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
    explain: bool = False,
) -> EarnResult:
    """The points a purchase earns. `campaign_remaining` gives what is left of each budgeted
    campaign (absent: unlimited); a campaign never gives more than what is left. `explain`: with
    every condition checked and the part that decided it (previewEarn)."""
    rows = _Rows(program)
    conditions = _Context(program, purchase, member, explain)
    earning = _earning_lines(program, purchase.lines, rows)
    _base(program, earning, rows)
    for line in earning:
        _line_rules(program, line, member, rows, conditions)
    _order_rules(program, earning, rows, conditions)
    reached: dict[str, bool] = {}
    campaign_points = _campaigns(
        program, purchase, member, earning, rows, campaign_remaining or {}, conditions, reached
    )
    birthday = _birthday(program, purchase, member, earning, rows)
    breakdown, rule_points = _rule_caps(program, member, rows.close())
    breakdown = _caps(program, member, breakdown)
    total = sum(row.points for row in breakdown)
    return EarnResult(
        tuple(breakdown),
        total,
        campaign_points,
        birthday,
        rule_points,
        tuple(conditions.checks),
        reached,
    )


_ORDER_FACTS: dict[str, Callable[[Purchase, MemberFacts], Value | None]] = {
    "channel": lambda purchase, member: purchase.channel,
    "store": lambda purchase, member: purchase.store,
    "partner": lambda purchase, member: purchase.partner,
    "payment_method": lambda purchase, member: purchase.payment_method,
    "basket_total": lambda purchase, member: purchase.total,
    "basket_quantity": lambda purchase, member: sum(line.quantity for line in purchase.lines),
    "nth_purchase": lambda purchase, member: member.purchases_before + 1,
    "tier": lambda purchase, member: member.tier,
    "joined_on": lambda purchase, member: member.joined_on,
    "segments": lambda purchase, member: member.segments,
    "birthday_month": lambda purchase, member: (
        member.birthday.month if member.birthday is not None else None
    ),
}
_LOCAL_FACTS: dict[str, Callable[[datetime], Value]] = {
    "weekday": lambda local: local.isoweekday(),
    "local_time": lambda local: local.time().replace(tzinfo=None),
    "local_date": lambda local: local.date(),
}
ORDER_FACT_NAMES = frozenset(_ORDER_FACTS) | frozenset(_LOCAL_FACTS)


def order_facts(
    program: Program,
    purchase: Purchase,
    member: MemberFacts,
    names: Iterable[str] = ORDER_FACT_NAMES,
) -> dict[str, Value | None]:
    """The facts of the order and the member that conditions read (conditions.FACTS), or the
    `names` of them a program's conditions read (a purchase works out no other)."""
    facts: dict[str, Value | None] = {}
    local = None
    for name in names:
        made = _ORDER_FACTS.get(name)
        if made is not None:
            facts[name] = made(purchase, member)
            continue
        if local is None:
            local = purchase.occurred_at.astimezone(program.zone)
        facts[name] = _LOCAL_FACTS[name](local)
    return facts


def line_facts(line: PurchaseLine) -> dict[str, Value | None]:
    return {
        "sku": line.sku,
        "category": line.category,
        "line_amount": line.amount,
        "line_quantity": line.quantity,
    }


@dataclass(frozen=True, slots=True)
class _Compiled:
    predicates: dict[str, Predicate]  # "rule:<id>" / "campaign:<id>": its compiled `when`
    nodes: dict[str, Node]
    line_scoped: frozenset[str]  # those whose condition reads a line
    order_facts: frozenset[str]  # the order's and member's facts any of them reads
    rules: dict[str, Predicate]  # the rules' predicates by rule id


_COMPILED: dict[int, tuple[Program, _Compiled]] = {}
_COMPILED_KEPT = 16


def _compiled(program: Program) -> _Compiled:
    """The program's conditions compiled once (a program object is kept and reused by the
    service's cache, so purchases under it share them)."""
    hit = _COMPILED.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]
    nodes: dict[str, Node] = {}
    for rule in program.earn.rules:
        if rule.when is not None:
            nodes[f"rule:{rule.id}"] = rule.when
    for campaign in program.campaigns:
        if campaign.when is not None:
            nodes[f"campaign:{campaign.id}"] = campaign.when
    for challenge in program.challenges:
        if challenge.when is not None:
            nodes[f"challenge:{challenge.id}"] = challenge.when
    built = _Compiled(
        {name: compile_condition(node) for name, node in nodes.items()},
        nodes,
        frozenset(name for name, node in nodes.items() if "line" in scopes(node)),
        frozenset().union(*(facts_of(node) for node in nodes.values())) & ORDER_FACT_NAMES,
        {},
    )
    built.rules.update(
        (name.removeprefix("rule:"), predicate)
        for name, predicate in built.predicates.items()
        if name.startswith("rule:")
    )
    if len(_COMPILED) >= _COMPILED_KEPT:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[id(program)] = (program, built)
    return built


def compiled_condition(program: Program, name: str) -> Predicate | None:
    """The compiled `when` of the program's "rule:<id>", "campaign:<id>" or "challenge:<id>"
    (None without one), from the one cache per program the engine uses."""
    return _compiled(program).predicates.get(name)


class _Context:
    """The conditions' side of one computation: the order's facts (made once, when a condition
    first needs them), the program's compiled conditions, and the checks kept when explaining."""

    def __init__(self, program: Program, purchase: Purchase, member: MemberFacts, explain: bool):
        self.compiled = _compiled(program)
        self.predicates = self.compiled.predicates
        self.program, self.purchase, self.member = program, purchase, member
        self.explain = explain
        self.checks: list[ConditionCheck] = []
        self._facts: dict[str, Value | None] | None = None

    @property
    def facts(self) -> dict[str, Value | None]:
        if self._facts is None:
            names = self.compiled.order_facts
            self._facts = order_facts(self.program, self.purchase, self.member, names)
        return self._facts

    def reads_lines(self, name: str) -> bool:
        return name in self.compiled.line_scoped

    def rule_holds(self, rule_id: str, line: PurchaseLine | None) -> bool:
        """`holds` for the rule `rule_id`, without making its name unless explaining."""
        if self.explain:
            return self.holds(f"rule:{rule_id}", line)
        facts = self._facts if self._facts is not None else self.facts
        return self.compiled.rules[rule_id](facts, line)

    def holds(self, name: str, line: PurchaseLine | None) -> bool:
        """Whether the condition of `name` holds of the order (and `line`)."""
        facts = self._facts if self._facts is not None else self.facts
        held = self.predicates[name](facts, line)
        if self.explain:
            given = self.facts if line is None else {**self.facts, **line_facts(line)}
            reason = evaluate(self.compiled.nodes[name], given).reason
            self.checks.append(
                ConditionCheck(None if line is None else line.line_id, name, held, reason)
            )
        return held


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


def _line_rules(
    program: Program,
    line: PurchaseLine,
    member: MemberFacts,
    rows: _Rows,
    conditions: _Context,
) -> None:
    base = rows.base[line.line_id]
    matching = [
        rule
        for rule in program.earn.rules
        if rule.order_bonus is None and _rule_matches(rule, line, conditions)
    ]
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


def _rule_matches(
    rule: EarnRule,
    line: PurchaseLine,
    conditions: _Context,
) -> bool:
    """The rule's categories or SKUs (if it names any) and its condition (if it has one)."""
    if (rule.categories or rule.skus) and not (
        line.category in rule.categories or line.sku in rule.skus
    ):
        return False
    return rule.when is None or conditions.rule_holds(rule.id, line)


def _order_rules(
    program: Program,
    lines: Sequence[PurchaseLine],
    rows: _Rows,
    conditions: _Context,
) -> None:
    """Rules giving a fixed bonus once per order (an order with lines that earn)."""
    for rule in program.earn.rules:
        if rule.order_bonus is None or not lines:
            continue
        if rule.when is None or conditions.holds(f"rule:{rule.id}", None):
            rows.add(
                None, f"rule:{rule.id}", rule.order_bonus, _named(rule, f"+{rule.order_bonus}")
            )


def _named(rule: EarnRule, effect: str) -> str:
    return f"{rule.name or rule.id} {effect}"


def _campaigns(
    program: Program,
    purchase: Purchase,
    member: MemberFacts,
    lines: Sequence[PurchaseLine],
    rows: _Rows,
    remaining: Mapping[str, int],
    conditions: _Context,
    reached: dict[str, bool],
) -> dict[str, int]:
    """Apply the active campaigns; returns what each budgeted one gave. `reached` gets each
    campaign whose audience the member is in, and whether they are held out of it."""
    offers = []
    for campaign in program.campaigns:
        if _campaign_active(program, campaign, purchase, member, conditions):
            held_out = in_control_group(campaign, member.member_id)
            reached[campaign.id] = held_out
            if held_out:
                continue
            offer = _campaign_offer(campaign, lines, rows, remaining.get(campaign.id), conditions)
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


def in_control_group(campaign: Campaign, member_id: str) -> bool:
    """Whether the member is in the campaign's control group: a draw that is random across
    members (a hash of the campaign and the member, uniform over 0–9999) and the same at every
    purchase, so that two concurrent purchases never put one member in both groups."""
    if campaign.holdout_percent <= 0 or not member_id:
        return False
    digest = hashlib.sha256(f"holdout:{campaign.id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < int(campaign.holdout_percent * 100)


def _campaign_offer(
    campaign: Campaign,
    lines: Sequence[PurchaseLine],
    rows: _Rows,
    left: int | None,
    conditions: _Context,
) -> list[tuple[str | None, Decimal]]:
    """The rows a campaign would add, cut to what is left of its budget."""
    offer: list[tuple[str | None, Decimal]] = []
    eligible = [
        line for line in lines if not campaign.categories or line.category in campaign.categories
    ]
    name = f"campaign:{campaign.id}"
    if conditions.reads_lines(name):
        eligible = [line for line in eligible if conditions.holds(name, line)]
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
    program: Program,
    campaign: Campaign,
    purchase: Purchase,
    member: MemberFacts,
    conditions: _Context,
) -> bool:
    if not _campaign_in_time(program, campaign, purchase, member):
        return False
    name = f"campaign:{campaign.id}"
    if campaign.when is None or conditions.reads_lines(name):
        return True  # a condition on lines is checked line by line (_campaign_offer)
    return conditions.holds(name, None)


def _campaign_in_time(
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


def _rule_caps(
    program: Program, member: MemberFacts, rows: list[EarnRow]
) -> tuple[list[EarnRow], dict[str, int]]:
    """Each capped rule's own rows cut to its cap for the order and what is left of its cap for
    the member's period, the cut shared among its lines in proportion; with what each rule with
    a member cap gave after the cut."""
    given: dict[str, int] = {}
    for rule in program.earn.rules:
        if not rule.capped:
            continue
        name = f"rule:{rule.id}"
        totals: dict[str | None, int] = {}
        for row in rows:
            if row.rule == name:
                totals[row.line_id] = totals.get(row.line_id, 0) + row.points
        limits = [rule.cap_per_order] if rule.cap_per_order is not None else []
        if rule.cap_per_member is not None:
            earned = member.rule_earned.get(rule.id, 0)
            limits.append(max(rule.cap_per_member.points - earned, 0))
        limit, total = min(limits), sum(totals.values())
        if total > limit:
            keys = list(totals)
            kept = share(limit, [Decimal(max(totals[key], 0)) for key in keys])
            description = f"{rule.name or rule.id} capped at {limit}"
            for key, keep in zip(keys, kept, strict=True):
                if totals[key] > keep:
                    rows.append(
                        EarnRow(
                            key, f"cap:{name}", program.version, keep - totals[key], description
                        )
                    )
            total = limit
        if rule.cap_per_member is not None:
            given[rule.id] = total
    return rows, given


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
