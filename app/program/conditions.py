"""The condition language: a tree of all / any / not over typed facts of a purchase and a member.

One language for every "when" of the program (earn rules and campaigns today; reward
eligibility and segments use the same tree). In TOML:

    when = { all = [
        { fact = "channel", in = ["app", "mini_program"] },
        { fact = "basket_total", gte = "100" },
        { not = { fact = "category", in = ["tobacco"] } },
        { any = [ { fact = "weekday", in = [6, 7] }, { fact = "nth_purchase", eq = 1 } ] },
    ] }

A leaf names one fact (FACTS: each has a type and a scope) and exactly one operator:
`eq`, `ne`, `in`, `not_in` (every type); `gt`, `gte`, `lt`, `lte`, `between` (numbers, money,
dates, times of day); `every` (whole numbers: `nth_purchase every 5` holds on the 5th, 10th, ...).
Values are checked against the fact's type when the program is applied, and every refusal names
its path (`earn.rules[0].when.all[1]`), as every other program error does.

A fact the purchase does not carry (no store id sent) makes its leaf false, except `ne` and
`not_in`, which hold: "not at store S" is true of a purchase at no store.

Scopes: a `line` fact (sku, category, the line's amount and quantity) is known per purchase line,
so only an effect per line may use one; `purchase` facts are the order's; `member` facts the
member's at the purchase; `account` facts (points, lifetime points, days since the last activity,
status) are read by segments only (app/segments), over every member at once. Evaluating is pure and bounded (at most MAX_NODES nodes, MAX_DEPTH deep,
MAX_VALUES values a list): a verdict says whether it held and which leaf decided it, which
previewEarn shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_serializer,
    model_validator,
)

MAX_DEPTH = 6
MAX_NODES = 64
MAX_VALUES = 1000
MAX_TEXT = 64
MAX_WHOLE = 10**15  # the largest whole number a condition compares with (points, counts)

Kind = Literal["text", "int", "money", "date", "time"]
Scope = Literal["purchase", "line", "member", "account"]


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    kind: Kind
    scope: Scope
    description: str
    low: int | None = None  # bounds of an int fact's values
    high: int | None = None
    many: bool = False  # a set of values (the member's segments): `in` holds when one is listed


FACTS: Mapping[str, Fact] = {
    fact.name: fact
    for fact in (
        Fact("channel", "text", "purchase", "the sales channel: app, web, store, mini_program, …"),
        Fact("store", "text", "purchase", "the store id the partner sent"),
        Fact("partner", "text", "purchase", "the partner that posted the purchase"),
        Fact(
            "payment_method", "text", "purchase", "how the order was paid, as the partner sent it"
        ),
        Fact("basket_total", "money", "purchase", "the order's total amount"),
        Fact("basket_quantity", "int", "purchase", "units in the order", 0, 100_000_000),
        Fact(
            "weekday", "int", "purchase", "ISO weekday in the program's zone, 1 Mon – 7 Sun", 1, 7
        ),
        Fact("local_time", "time", "purchase", "time of day in the program's time zone"),
        Fact("local_date", "date", "purchase", "date in the program's time zone"),
        Fact(
            "nth_purchase", "int", "purchase", "the member's purchase count, this one included", 1
        ),
        Fact("sku", "text", "line", "the line's SKU"),
        Fact("category", "text", "line", "the line's category"),
        Fact("line_amount", "money", "line", "the line's amount"),
        Fact("line_quantity", "int", "line", "the line's quantity", 0, 1_000_000),
        Fact("tier", "text", "member", "the member's tier code"),
        Fact("joined_on", "date", "member", "the member's sign-up date, in the program's zone"),
        Fact("birthday_month", "int", "member", "the month of the member's birthday", 1, 12),
        Fact("segments", "text", "member", "the segments the member is in (their ids)", many=True),
        # What a segment reads of a member's account (app/segments), not known to a purchase's
        # rules: refused in earn rules and campaigns.
        Fact("points", "int", "account", "points available now", 0),
        Fact("lifetime_points", "int", "account", "points ever earned", 0),
        Fact("redeemed_points", "int", "account", "points ever redeemed (0: never redeemed)", 0),
        Fact("days_since_activity", "int", "account", "whole days since the last earn or spend", 0),
        Fact("status", "text", "account", "active or suspended"),
    )
}

ORDERED = ("gt", "gte", "lt", "lte")
OPERATORS = ("eq", "ne", "in", "not_in", *ORDERED, "between", "every")

Value = str | int | Decimal | date | time | frozenset[str]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Leaf(_Node):
    fact: str = Field(max_length=MAX_TEXT)
    eq: Any = None
    ne: Any = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in", max_length=MAX_VALUES)
    not_in: tuple[Any, ...] | None = Field(default=None, max_length=MAX_VALUES)
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None
    between: tuple[Any, Any] | None = None
    every: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _typed(self) -> Self:
        fact = FACTS.get(self.fact)
        if fact is None:
            raise ValueError(f"no fact {self.fact!r}; facts: {', '.join(sorted(FACTS))}")
        given = [name for name in OPERATORS if getattr(self, _attr(name)) is not None]
        if len(given) != 1:
            raise ValueError(f"a condition on {fact.name} takes one of {', '.join(OPERATORS)}")
        [operator] = given
        if operator in (*ORDERED, "between") and fact.kind == "text":
            raise ValueError(f"{fact.name} is text: compare it with eq, ne, in or not_in")
        if operator == "every" and fact.kind != "int":
            raise ValueError(f"every applies to whole-number facts, not {fact.name}")
        raw = getattr(self, _attr(operator))
        if operator == "every":
            return self
        if isinstance(raw, tuple):
            typed: Any = tuple(_typed_value(fact, value) for value in raw)
            if operator == "between" and typed[0] > typed[1]:
                raise ValueError(f"between's first value is above its second ({fact.name})")
        else:
            typed = _typed_value(fact, raw)
        object.__setattr__(self, _attr(operator), typed)
        return self

    @property
    def operator(self) -> str:
        return next(name for name in OPERATORS if getattr(self, _attr(name)) is not None)

    @property
    def operand(self) -> Any:
        return getattr(self, _attr(self.operator))

    @model_serializer(mode="plain")
    def _written(self) -> dict[str, Any]:
        operand = self.operand
        written = [_plain(v) for v in operand] if isinstance(operand, tuple) else _plain(operand)
        return {"fact": self.fact, self.operator: written}

    def describe(self) -> str:
        operand = self.operand
        if isinstance(operand, tuple):
            shown = ", ".join(_shown(value) for value in operand)
            operand_text = f"[{shown}]" if self.operator != "between" else shown.replace(", ", "–")
        else:
            operand_text = _shown(operand)
        return f"{self.fact} {self.operator.replace('_', ' ')} {operand_text}"


class All(_Node):
    all: tuple[Condition, ...] = Field(min_length=1, max_length=MAX_NODES)

    @model_serializer(mode="plain")
    def _written(self) -> dict[str, Any]:
        return {"all": [child.model_dump() for child in self.all]}


class AnyOf(_Node):
    any: tuple[Condition, ...] = Field(min_length=1, max_length=MAX_NODES)

    @model_serializer(mode="plain")
    def _written(self) -> dict[str, Any]:
        return {"any": [child.model_dump() for child in self.any]}


class Not(_Node):
    not_: Condition = Field(alias="not")

    @model_serializer(mode="plain")
    def _written(self) -> dict[str, Any]:
        return {"not": self.not_.model_dump()}


# The union's tags: pydantic names them in an error's location, where the operator wrote none.
TAGS = frozenset({"all_of", "any_of", "not_of", "leaf"})


def _kind_of(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key, tag in (("all", "all_of"), ("any", "any_of"), ("not", "not_of")):
            if key in value:
                return tag
        return "leaf"
    if isinstance(value, BaseModel):
        return {All: "all_of", AnyOf: "any_of", Not: "not_of", Leaf: "leaf"}.get(type(value))
    return None


Condition = Annotated[
    Annotated[All, Tag("all_of")]
    | Annotated[AnyOf, Tag("any_of")]
    | Annotated[Not, Tag("not_of")]
    | Annotated[Leaf, Tag("leaf")],
    Discriminator(_kind_of),
]
All.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()

Node = All | AnyOf | Not | Leaf


def _attr(operator: str) -> str:
    return "in_" if operator == "in" else operator


def _plain(value: Any) -> Any:
    """A value as the configuration writes it: amounts and dates as text, so that the stored
    program (BSON) and its JSON and TOML forms are the same."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, time):
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return str(value)


def _typed_value(fact: Fact, value: Any) -> Value:
    """`value` as the fact's type, or a ValueError naming the fact."""
    if fact.kind == "text":
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_TEXT:
            raise ValueError(f"{fact.name} compares with text of 1 to {MAX_TEXT} characters")
        return value
    if fact.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{fact.name} compares with whole numbers")
        low, high = fact.low, MAX_WHOLE if fact.high is None else fact.high
        if (low is not None and value < low) or value > high:
            raise ValueError(f"{fact.name} is {low} to {high}")
        return value
    if fact.kind == "money":
        try:
            money = Decimal(str(value)) if isinstance(value, int | str | Decimal) else None
        except InvalidOperation:
            money = None
        if isinstance(value, bool) or money is None or not money.is_finite() or money < 0:
            raise ValueError(f'{fact.name} compares with an amount such as "100" or "99.50"')
        if money > Decimal("1000000000000") or money != money.quantize(Decimal("0.0001")):
            raise ValueError(f"{fact.name}: at most 10^12 with four decimals")
        return money
    if fact.kind == "date":
        if isinstance(value, date):
            return value
        try:
            parsed: Value = date.fromisoformat(value) if isinstance(value, str) else _refuse(fact)
        except ValueError:
            parsed = _refuse(fact)
        return parsed
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    try:
        at: Value = time.fromisoformat(value) if isinstance(value, str) else _refuse(fact)
    except ValueError:
        at = _refuse(fact)
    return at


def _refuse(fact: Fact) -> Any:
    example = "2026-03-01" if fact.kind == "date" else "18:30"
    raise ValueError(f"{fact.name} compares with a {fact.kind} such as {example}")


def size(node: Node, depth: int = 1) -> tuple[int, int]:
    """Nodes and depth of a tree."""
    if isinstance(node, Leaf):
        return 1, depth
    children = (
        node.all if isinstance(node, All) else node.any if isinstance(node, AnyOf) else (node.not_,)
    )
    nodes, deepest = 1, depth
    for child in children:
        n, d = size(child, depth + 1)
        nodes, deepest = nodes + n, max(deepest, d)
    return nodes, deepest


def check_bounds(node: Node) -> Node:
    """The tree within MAX_NODES and MAX_DEPTH (pydantic checks each list's length only)."""
    nodes, depth = size(node)
    if nodes > MAX_NODES or depth > MAX_DEPTH:
        raise ValueError(f"a condition has at most {MAX_NODES} parts, {MAX_DEPTH} levels deep")
    return node


def scopes(node: Node) -> set[Scope]:
    """The scopes of the facts the tree reads."""
    if isinstance(node, Leaf):
        return {FACTS[node.fact].scope}
    children = (
        node.all if isinstance(node, All) else node.any if isinstance(node, AnyOf) else (node.not_,)
    )
    found: set[Scope] = set()
    for child in children:
        found |= scopes(child)
    return found


def operands_of(node: Node, fact: str) -> set[Any]:
    """Every value the tree compares `fact` with (the segments a condition names)."""
    if isinstance(node, Leaf):
        if node.fact != fact:
            return set()
        operand = node.operand
        return set(operand) if isinstance(operand, tuple) else {operand}
    children = (
        node.all if isinstance(node, All) else node.any if isinstance(node, AnyOf) else (node.not_,)
    )
    return set().union(*(operands_of(child, fact) for child in children))


def facts_of(node: Node) -> set[str]:
    """The names of the facts the tree reads."""
    if isinstance(node, Leaf):
        return {node.fact}
    children = (
        node.all if isinstance(node, All) else node.any if isinstance(node, AnyOf) else (node.not_,)
    )
    return set().union(*(facts_of(child) for child in children))


Predicate = Callable[[Mapping[str, Any], Any], bool]
"""A compiled condition: (the order's and member's facts, the line or None) -> whether it holds."""

# The line facts, as attributes of the engine's PurchaseLine.
LINE_ATTRIBUTES = {
    "sku": "sku",
    "category": "category",
    "line_amount": "amount",
    "line_quantity": "quantity",
}


def compile_condition(node: Node) -> Predicate:
    """The tree as nested closures deciding it without building a verdict: what a purchase runs
    (`evaluate` explains, for previewEarn). Same answers as `evaluate` (tests compare them).

    A part that reads no line fact is decided once per order and its answer kept in the order's
    facts mapping (under a key of its own, not a fact's name), so a condition checked on every
    line does its order-level work once: pass each purchase a mapping of its own."""
    decide = _compile(node)
    if "line" in scopes(node):
        return decide
    return _once_per_order(decide)


def _compile(node: Node) -> Predicate:
    if isinstance(node, Leaf):
        return _compiled_leaf(node)
    if isinstance(node, Not):
        inner = compile_condition(node.not_)
        return lambda order, line: not inner(order, line)
    both = isinstance(node, All)
    children = node.all if isinstance(node, All) else node.any
    on_order = [child for child in children if "line" not in scopes(child)]
    on_lines = [child for child in children if "line" in scopes(child)]
    parts = [_compile(child) for child in on_order]
    line_parts = _joined(tuple(compile_condition(child) for child in on_lines), both)
    if on_lines and on_order:
        # The order-level parts, joined, are decided once per order and first, as they settle
        # most lines' answer at the cost of one lookup.
        return _order_then_lines(_joined(tuple(parts), both), line_parts, both)
    return line_parts if on_lines else _joined(tuple(parts), both)


def _order_then_lines(on_order: Predicate, on_lines: Predicate, both: bool) -> Predicate:
    key = object()

    def decide(order: Any, line: Any) -> bool:
        known = order.get(key)
        if known is None:
            known = order[key] = on_order(order, None)
        if known is not both:  # all: the order's part failed; any: it held
            return not both
        return on_lines(order, line)

    return decide


def _joined(parts: tuple[Predicate, ...], both: bool) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if both:

        def every(order: Any, line: Any) -> bool:
            for part in parts:  # noqa: SIM110 (a loop: all() over a generator costs more here)
                if not part(order, line):
                    return False
            return True

        return every

    def some(order: Any, line: Any) -> bool:
        for part in parts:  # noqa: SIM110 (a loop: any() over a generator costs more here)
            if part(order, line):
                return True
        return False

    return some


def _once_per_order(decide: Predicate) -> Predicate:
    key = object()

    def once(order: Any, line: Any) -> bool:
        known = order.get(key)
        if known is None:
            known = order[key] = decide(order, None)
        return bool(known)

    return once


def _compiled_leaf(leaf: Leaf) -> Predicate:
    operator, operand = leaf.operator, leaf.operand
    attribute = LINE_ATTRIBUTES.get(leaf.fact)
    name = leaf.fact
    if FACTS[name].many:
        return lambda order, line: _leaf(leaf, order.get(name))
    if attribute is not None:
        if operator == "in":
            members = frozenset(operand)
            return lambda order, line: line is not None and getattr(line, attribute) in members
        if operator == "not_in":
            members = frozenset(operand)
            return lambda order, line: line is None or getattr(line, attribute) not in members
        return lambda order, line: _leaf(leaf, None if line is None else getattr(line, attribute))
    if operator in ("in", "not_in"):
        members = frozenset(operand)
        if operator == "in":
            return lambda order, line: (value := order.get(name)) is not None and value in members
        return lambda order, line: (value := order.get(name)) is None or value not in members
    if operator == "eq":
        return lambda order, line: (value := order.get(name)) is not None and value == operand
    if operator == "ne":
        return lambda order, line: (value := order.get(name)) is None or value != operand
    return lambda order, line: _leaf(leaf, order.get(name))


@dataclass(frozen=True, slots=True)
class Verdict:
    held: bool
    reason: str  # the leaf that decided it: "channel in [app]" or "not weekday in [6, 7]"


def evaluate(node: Node, facts: Mapping[str, Value | None]) -> Verdict:
    """Whether the tree holds of `facts` (a fact absent or None: not known), and why."""
    if isinstance(node, Leaf):
        return Verdict(_leaf(node, facts.get(node.fact)), node.describe())
    if isinstance(node, Not):
        inner = evaluate(node.not_, facts)
        return Verdict(not inner.held, f"not ({inner.reason})")
    if isinstance(node, All):
        last = Verdict(True, "")
        for child in node.all:
            last = evaluate(child, facts)
            if not last.held:
                return last
        return Verdict(True, " and ".join(evaluate(c, facts).reason for c in node.all))
    reasons = []
    for child in node.any:
        verdict = evaluate(child, facts)
        if verdict.held:
            return verdict
        reasons.append(verdict.reason)
    return Verdict(False, "none of: " + "; ".join(reasons))


def _leaf(leaf: Leaf, value: Value | None) -> bool:
    operator, operand = leaf.operator, leaf.operand
    if value is None:
        return operator in ("ne", "not_in")
    if isinstance(value, time):
        value = value.replace(tzinfo=None)
    if isinstance(value, frozenset):  # a fact of many values: any of them
        if operator == "eq":
            return operand in value
        if operator == "ne":
            return operand not in value
        return bool(value & set(operand)) is (operator == "in")
    try:
        match operator:
            case "eq":
                return bool(value == operand)
            case "ne":
                return bool(value != operand)
            case "in":
                return value in operand
            case "not_in":
                return value not in operand
            case "gt":
                return bool(value > operand)
            case "gte":
                return bool(value >= operand)
            case "lt":
                return bool(value < operand)
            case "lte":
                return bool(value <= operand)
            case "between":
                return bool(operand[0] <= value <= operand[1])
            case _:  # every
                return isinstance(value, int) and value % operand == 0
    except TypeError:  # a fact of another type than the leaf's (never from FACTS' own values)
        return False


def dump(node: Node) -> dict[str, Any]:
    """The tree as the program's configuration writes it (TOML, JSON, the stored document)."""
    written: dict[str, Any] = node.model_dump()
    return written
