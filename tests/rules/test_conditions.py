"""The condition language (app/program/conditions.py) and the rules that use it: every operator,
facts a purchase does not carry, refusals with the path the operator wrote, the stored form read
back, and earns worked out by hand for conditional rules, order bonuses and caps."""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter

from app.program import (
    MemberFacts,
    ProgramInvalid,
    Purchase,
    PurchaseLine,
    compute_earn,
    config_of,
    parse_program,
)
from app.program.conditions import (
    FACTS,
    MAX_NODES,
    Condition,
    compile_condition,
    dump,
    evaluate,
)
from app.program.models import Campaign, EarnRule, EarnRules, Program, Tier
from tests.program.configs import demo_config

WHEN = TypeAdapter(Condition)
SATURDAY_EVENING = datetime(2026, 3, 7, 11, 30, tzinfo=UTC)  # 19:30 on Saturday in Shanghai
TUESDAY_MORNING = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 on Tuesday in Shanghai


def when(raw: dict[str, Any]) -> Any:
    return WHEN.validate_python(raw)


def program(*rules: dict[str, Any], campaigns: tuple[dict[str, Any], ...] = ()) -> Program:
    return Program.model_validate(
        {
            "name": "Shop",
            "currency": "积分",
            "timezone": "Asia/Shanghai",
            "tiers": (
                Tier(code="member", name="Member", threshold=0),
                Tier(code="gold", name="Gold", threshold=5000),
            ),
            "earn": EarnRules(rules=tuple(EarnRule.model_validate(rule) for rule in rules)),
            "campaigns": tuple(Campaign.model_validate(c) for c in campaigns),
            "version": 3,
        }
    )


def line(
    line_id: str, amount: str, category: str = "apparel", sku: str = "SKU", qty: int = 1
) -> PurchaseLine:
    return PurchaseLine(line_id, sku, category, qty, Decimal(amount))


def purchase(*lines: PurchaseLine, at: datetime = SATURDAY_EVENING, **facts: Any) -> Purchase:
    return Purchase(tuple(lines), at, facts.pop("channel", "app"), **facts)


@pytest.mark.parametrize(
    ("leaf", "value", "held"),
    [
        ({"fact": "channel", "eq": "app"}, "app", True),
        ({"fact": "channel", "eq": "app"}, "web", False),
        ({"fact": "channel", "ne": "app"}, "web", True),
        ({"fact": "channel", "in": ["app", "web"]}, "web", True),
        ({"fact": "channel", "not_in": ["app", "web"]}, "store", True),
        ({"fact": "basket_total", "gt": "100"}, Decimal("100"), False),
        ({"fact": "basket_total", "gte": "100"}, Decimal("100.00"), True),
        ({"fact": "basket_total", "lt": 100}, Decimal("99.9999"), True),
        ({"fact": "basket_total", "lte": "99.5"}, Decimal("99.51"), False),
        ({"fact": "basket_total", "between": ["10", "20"]}, Decimal("20"), True),
        ({"fact": "local_time", "between": ["18:00", "21:30"]}, time(21, 30), True),
        ({"fact": "local_time", "between": ["18:00", "21:30"]}, time(21, 31), False),
        ({"fact": "local_date", "gte": "2026-03-01"}, date(2026, 3, 1), True),
        ({"fact": "joined_on", "lt": date(2026, 1, 1)}, date(2026, 1, 1), False),
        ({"fact": "nth_purchase", "eq": 1}, 1, True),
        ({"fact": "nth_purchase", "every": 5}, 10, True),
        ({"fact": "nth_purchase", "every": 5}, 11, False),
        ({"fact": "weekday", "in": [6, 7]}, 6, True),
    ],
)
def test_each_operator_compares_as_its_fact_type_says(
    leaf: dict[str, Any], value: Any, held: bool
) -> None:
    assert evaluate(when(leaf), {leaf["fact"]: value}).held is held


def test_a_fact_the_purchase_does_not_carry_holds_only_for_ne_and_not_in() -> None:
    for operator, operand, held in [
        ("eq", "s1", False),
        ("in", ["s1"], False),
        ("ne", "s1", True),
        ("not_in", ["s1"], True),
    ]:
        assert evaluate(when({"fact": "store", operator: operand}), {"store": None}).held is held
    assert evaluate(when({"fact": "basket_total", "gte": "1"}), {}).held is False


def test_all_any_not_combine_and_the_verdict_names_what_decided_it() -> None:
    tree = when(
        {
            "all": [
                {"fact": "channel", "in": ["app"]},
                {"not": {"fact": "category", "in": ["tobacco"]}},
                {"any": [{"fact": "weekday", "in": [6, 7]}, {"fact": "nth_purchase", "eq": 1}]},
            ]
        }
    )
    facts = {"channel": "app", "category": "tea", "weekday": 3, "nth_purchase": 1}
    assert evaluate(tree, facts).held
    failed = evaluate(tree, {**facts, "category": "tobacco"})
    assert not failed.held and failed.reason == "not (category in [tobacco])"
    neither = evaluate(tree, {**facts, "nth_purchase": 2})
    assert not neither.held
    assert neither.reason == "none of: weekday in [6, 7]; nth_purchase eq 1"


def errors_of(config: Any) -> list[str]:
    with pytest.raises(ProgramInvalid) as refused:
        parse_program(config)
    return [str(error) for error in refused.value.errors]


def test_a_refused_condition_names_its_path_and_reason() -> None:
    config = demo_config()
    config["earn"]["rules"] = [
        {
            "id": "weekend",
            "multiplier": "2",
            "when": {"all": [{"fact": "channel", "in": ["app"]}, {"fact": "weekday", "in": [8]}]},
        },
        {"id": "typo", "bonus_points": 5, "when": {"fact": "chanel", "eq": "app"}},
        {"id": "two", "bonus_points": 5, "when": {"fact": "sku", "eq": "a", "ne": "b"}},
        {"id": "text", "bonus_points": 5, "when": {"fact": "store", "gt": "a"}},
        {"id": "order", "order_bonus": 5, "when": {"fact": "sku", "eq": "a"}},
        {"id": "money", "bonus_points": 5, "when": {"fact": "basket_total", "gte": "-5"}},
    ]
    errors = errors_of(config)
    assert errors[0] == "earn.rules[0].when.all[1]: weekday is 1 to 7"
    assert errors[1].startswith("earn.rules[1].when: no fact 'chanel'; facts: ")
    assert errors[2].startswith("earn.rules[2].when: a condition on sku takes one of eq, ne, in")
    assert errors[3] == "earn.rules[3].when: store is text: compare it with eq, ne, in or not_in"
    assert errors[4] == (
        "earn.rules[4]: an order_bonus's condition reads the order and the member, not a line"
    )
    assert errors[5] == (
        'earn.rules[5].when: basket_total compares with an amount such as "100" or "99.50"'
    )


def test_a_rule_cannot_read_a_segments_account_facts() -> None:
    config = demo_config()
    config["earn"]["rules"] = [
        {"id": "rich", "bonus_points": 5, "when": {"fact": "points", "gte": 1000}}
    ]
    [error] = errors_of(config)
    assert error.startswith("earn.rules[0].when: points, lifetime_points, redeemed_points")


def test_a_whole_number_past_what_the_database_stores_is_refused() -> None:
    """A segment comparing points with 10^30 once answered an internal error: the number was
    taken and the save failed in BSON, which stores at most 8-byte integers."""
    with pytest.raises(ValueError, match="points is 0 to 1000000000000000"):
        when({"fact": "points", "gte": 10**30})
    with pytest.raises(ValueError, match="nth_purchase is 1 to"):
        when({"fact": "nth_purchase", "in": [2, 10**16]})
    assert evaluate(when({"fact": "points", "lte": 10**15}), {"points": 5}).held


def test_a_condition_is_bounded_in_size_and_depth() -> None:
    config = demo_config()
    leaves = [{"fact": "channel", "eq": "app"}] * (MAX_NODES + 1)
    config["earn"]["rules"] = [{"id": "big", "bonus_points": 1, "when": {"any": leaves}}]
    assert errors_of(config)[0].startswith("earn.rules[0].when.any: ")
    deep: dict[str, Any] = {"fact": "channel", "eq": "app"}
    for _ in range(7):
        deep = {"not": deep}
    config["earn"]["rules"] = [{"id": "deep", "bonus_points": 1, "when": deep}]
    assert errors_of(config) == [
        "earn.rules[0].when: a condition has at most 64 parts, 6 levels deep"
    ]


def random_tree(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth >= 3 or rng.random() < 0.4:
        return rng.choice(
            [
                {"fact": "channel", "in": rng.sample(["app", "web", "store"], 2)},
                {"fact": "basket_total", "gte": str(rng.randint(0, 500))},
                {"fact": "local_time", "between": ["08:00", f"{rng.randint(9, 23):02d}:30"]},
                {"fact": "local_date", "lt": f"2026-0{rng.randint(1, 9)}-15"},
                {"fact": "nth_purchase", "every": rng.randint(1, 6)},
                {"fact": "store", "ne": "s9"},
                {"fact": "category", "in": rng.sample(["tea", "food", "toys"], 2)},
                {"fact": "line_amount", "lt": str(rng.randint(1, 300))},
            ]
        )
    kind = rng.choice(["all", "any", "not"])
    if kind == "not":
        return {"not": random_tree(rng, depth + 1)}
    return {kind: [random_tree(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def test_a_condition_reads_back_as_written_through_toml_and_the_stored_program() -> None:
    rng = random.Random(7)
    for n in range(200):
        raw = random_tree(rng)
        tree = when(raw)
        assert dump(tree) == raw
        assert when(dump(tree)) == tree
        config = demo_config()
        config["earn"]["rules"] = [{"id": f"r{n}", "bonus_points": 1, "when": raw}]
        stored = config_of(parse_program(config))  # what the program collection keeps
        assert stored["earn"]["rules"][0]["when"] == raw
        assert parse_program(stored).earn.rules[0].when == tree
    toml = tomllib.loads(
        'when = { all = [ { fact = "local_time", between = [18:00:00, 21:30:00] }, '
        '{ fact = "local_date", gte = 2026-03-01 } ] }'
    )
    assert dump(when(toml["when"])) == {
        "all": [
            {"fact": "local_time", "between": ["18:00", "21:30"]},
            {"fact": "local_date", "gte": "2026-03-01"},
        ]
    }


def test_the_compiled_condition_a_purchase_runs_decides_as_the_explained_one() -> None:
    rng = random.Random(11)
    stores = ["s1", "s9", None]
    for _ in range(300):
        tree = when(random_tree(rng))
        decide = compile_condition(tree)
        for _ in range(10):  # each purchase its own facts (the compiled form keeps answers there)
            facts = {
                "channel": rng.choice(["app", "web", "store", None]),
                "basket_total": Decimal(rng.randint(0, 600)),
                "local_time": time(rng.randint(0, 23), rng.choice([0, 30])),
                "local_date": date(2026, rng.randint(1, 9), rng.randint(1, 28)),
                "nth_purchase": rng.randint(1, 30),
                "store": rng.choice(stores),
            }
            bought = line("1", str(rng.randint(0, 400)), rng.choice(["tea", "food", "toys"]))
            given = {**facts, "category": bought.category, "line_amount": bought.amount}
            held = evaluate(tree, given).held
            assert decide(facts, bought) is held, (dump(tree), given)
    on_line = when(
        {"all": [{"fact": "category", "in": ["tea"]}, {"fact": "line_amount", "gte": "5"}]}
    )
    decide = compile_condition(on_line)
    assert decide({}, line("1", "5", "tea")) and not decide({}, line("1", "4.99", "tea"))
    assert not decide({}, None)  # no line: a line fact is not known


def test_the_members_segments_are_a_set_any_of_which_may_match() -> None:
    segments = frozenset({"vip", "dormant"})
    for leaf, held in [
        ({"fact": "segments", "in": ["vip", "new"]}, True),
        ({"fact": "segments", "in": ["new"]}, False),
        ({"fact": "segments", "not_in": ["new"]}, True),
        ({"fact": "segments", "not_in": ["dormant"]}, False),
        ({"fact": "segments", "eq": "vip"}, True),
        ({"fact": "segments", "ne": "vip"}, False),
    ]:
        tree = when(leaf)
        assert evaluate(tree, {"segments": segments}).held is held, leaf
        assert compile_condition(tree)({"segments": segments}, None) is held, leaf
        assert evaluate(tree, {"segments": frozenset()}).held is (
            leaf.get("in") is None and leaf.get("eq") is None
        )


def test_every_fact_is_documented() -> None:
    assert all(fact.description for fact in FACTS.values())


def test_a_weekend_app_rule_doubles_matching_lines_and_preview_explains_each_line() -> None:
    shop = program(
        {
            "id": "weekend-app",
            "name": "Weekend in the app",
            "multiplier": "2",
            "when": {
                "all": [
                    {"fact": "channel", "eq": "app"},
                    {"fact": "weekday", "in": [6, 7]},
                    {"not": {"fact": "category", "in": ["tobacco"]}},
                    {"fact": "local_time", "between": ["18:00", "22:00"]},
                    {"fact": "line_amount", "gte": "50"},
                ]
            },
        }
    )
    bought = purchase(line("1", "120"), line("2", "80", "tobacco"), line("3", "30"))
    result = compute_earn(shop, bought, MemberFacts(tier="member"), explain=True)
    assert result.by_line() == {"1": 240, "2": 80, "3": 30}  # 1 point per yuan; line 1 doubled
    checks = {(c.line_id, c.held): c.reason for c in result.checks}
    assert set(checks) == {("1", True), ("2", False), ("3", False)}
    assert checks[("2", False)] == "not (category in [tobacco])"
    assert checks[("3", False)] == "line_amount gte 50"
    on_tuesday = compute_earn(
        shop,
        purchase(line("1", "120"), at=TUESDAY_MORNING),
        MemberFacts(tier="member"),
        explain=True,
    )
    assert on_tuesday.total == 120
    assert [c.reason for c in on_tuesday.checks] == ["weekday in [6, 7]"]
    in_store = compute_earn(
        shop, purchase(line("1", "120"), channel="store"), MemberFacts(tier="member")
    )
    assert in_store.total == 120


def test_an_order_bonus_on_every_fifth_purchase_at_a_store_paid_by_card() -> None:
    shop = program(
        {
            "id": "fifth",
            "order_bonus": 100,
            "when": {
                "all": [
                    {"fact": "nth_purchase", "every": 5},
                    {"fact": "store", "in": ["s1", "s2"]},
                    {"fact": "payment_method", "eq": "card"},
                ]
            },
        }
    )
    bought = purchase(line("1", "10"), store="s1", payment_method="card")
    totals = [
        compute_earn(shop, bought, MemberFacts(tier="member", purchases_before=n)).total
        for n in range(10)
    ]
    assert totals == [10, 10, 10, 10, 110, 10, 10, 10, 10, 110]
    fifth = MemberFacts(tier="member", purchases_before=4)
    assert (
        compute_earn(
            shop, purchase(line("1", "10"), store="s3", payment_method="card"), fifth
        ).total
        == 10
    )
    assert compute_earn(shop, purchase(line("1", "10"), payment_method="card"), fifth).total == 10


def test_a_rules_caps_per_order_and_per_member_period_cut_only_its_own_rows() -> None:
    shop = program(
        {
            "id": "tea",
            "categories": ["tea"],
            "bonus_points": 40,
            "per_unit": True,
            "cap_per_order": 100,
            "cap_per_member": {"points": 150, "period": "month"},
        }
    )
    bought = purchase(line("1", "10", "tea", qty=2), line("2", "10", "tea", qty=3), line("3", "10"))
    fresh = compute_earn(shop, bought, MemberFacts(tier="member"))
    # 5 units × 40 = 200 bonus, cut to 100 shared by the lines' bonuses (80 and 120): 40 and 60.
    assert fresh.by_line() == {"1": 50, "2": 70, "3": 10}
    assert fresh.rule_points == {"tea": 100}
    late = compute_earn(shop, bought, MemberFacts(tier="member", rule_earned={"tea": 120}))
    assert late.rule_points == {"tea": 30}
    assert late.total == 30 + 30  # the base points stay, the rule gives what is left: 30
    spent = compute_earn(shop, bought, MemberFacts(tier="member", rule_earned={"tea": 150}))
    assert spent.total == 30 and spent.rule_points == {"tea": 0}


def test_a_campaign_for_first_purchases_of_new_members_on_the_mini_program() -> None:
    shop = program(
        campaigns=(
            {
                "id": "welcome",
                "name": "Welcome",
                "bonus_points": 200,
                "when": {
                    "all": [
                        {"fact": "nth_purchase", "eq": 1},
                        {"fact": "channel", "eq": "mini_program"},
                        {"fact": "joined_on", "gte": "2026-03-01"},
                    ]
                },
            },
            {
                "id": "big-lines",
                "name": "Big lines",
                "multiplier": "3",
                "when": {"fact": "line_amount", "gte": "100"},
            },
        )
    )
    new = MemberFacts(tier="member", joined_on=date(2026, 3, 2))
    first = compute_earn(
        shop, purchase(line("1", "100"), line("2", "20"), channel="mini_program"), new
    )
    assert first.by_line() == {"1": 300, "2": 20, None: 200}
    older = MemberFacts(tier="member", joined_on=date(2026, 2, 28))
    assert compute_earn(shop, purchase(line("2", "20"), channel="mini_program"), older).total == 20
    second = MemberFacts(tier="member", joined_on=date(2026, 3, 2), purchases_before=1)
    assert compute_earn(shop, purchase(line("2", "20"), channel="mini_program"), second).total == 20
