"""Conditional rules through the partner API: the facts a till sends (channel, store, payment
method, lines, time), the member's purchase count and a rule's monthly cap kept across purchases,
replays and concurrent tills, and previewEarn's explanation of every condition."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from app.ledger import earn
from app.program import Program
from app.segments import parse_segment, save_segment
from tests.api.gql import ask, data, make_member
from tests.partners.api import (
    PROGRAM,
    make_program,
    partner_token,
    post_purchase,
    purchase_input,
)

PREVIEW = """
query($input: RecordPurchaseInput!) {
  previewEarn(input: $input) {
    total breakdown { rule points lineId }
    conditions { lineId rule matched reason }
  }
}"""

SATURDAY_EVENING = "2026-03-07T11:30:00Z"  # 19:30 in Shanghai
TUESDAY_MORNING = "2026-03-03T01:00:00Z"  # 09:00 in Shanghai

CONDITIONAL: Program = Program.model_validate(
    {
        **PROGRAM.model_dump(),
        "earn": {
            "rules": [
                {
                    "id": "weekend-app",
                    "name": "Weekend in the app",
                    "multiplier": "2",
                    "when": {
                        "all": [
                            {"fact": "channel", "in": ["app", "mini_program"]},
                            {"fact": "weekday", "in": [6, 7]},
                            {"fact": "store", "in": ["s1", "s2"]},
                            {"fact": "payment_method", "eq": "card"},
                            {"not": {"fact": "category", "in": ["tobacco"]}},
                        ]
                    },
                },
                {
                    "id": "third",
                    "name": "Every third purchase",
                    "order_bonus": 100,
                    "when": {"fact": "nth_purchase", "every": 3},
                },
                {
                    "id": "tea",
                    "categories": ["tea"],
                    "bonus_points": 40,
                    "cap_per_member": {"points": 100, "period": "month"},
                },
            ]
        },
    }
)


def order(
    member: str, order_id: str, at: str, lines: list[tuple[str, str]], **extra: Any
) -> dict[str, Any]:
    payload = purchase_input(member, order_id, at=at)
    payload["lines"] = [
        {"lineId": f"L{n}", "sku": f"SKU{n}", "category": category, "quantity": 1, "amount": amount}
        for n, (category, amount) in enumerate(lines, start=1)
    ]
    return {**payload, **extra}


def rules_of(result: dict[str, Any]) -> dict[str, int]:
    given: dict[str, int] = {}
    for row in result["purchase"]["breakdown"]:
        given[row["rule"]] = given.get(row["rule"], 0) + row["points"]
    return given


async def test_the_weekend_rule_reads_what_the_till_sent_and_preview_says_why(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))  # every purchase here within the backdate days
    await make_program(runtime, clock, CONDITIONAL)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    lines = [("food", "120"), ("tobacco", "80")]
    sent = {"channel": "app", "storeId": "s1", "paymentMethod": "card"}
    preview = data(
        await ask(
            client, PREVIEW, token, {"input": order(member, "p-1", SATURDAY_EVENING, lines, **sent)}
        )
    )["previewEarn"]
    assert preview["total"] == 120 * 2 + 80
    assert {(c["lineId"], c["rule"], c["matched"], c["reason"]) for c in preview["conditions"]} == {
        (
            "L1",
            "rule:weekend-app",
            True,
            "channel in [app, mini_program] and weekday in [6, 7] "
            "and store in [s1, s2] and payment_method eq card and not (category in [tobacco])",
        ),
        ("L2", "rule:weekend-app", False, "not (category in [tobacco])"),
        (None, "rule:third", False, "nth_purchase every 3"),
    }
    assert await runtime.mongo["earn_facts"].count_documents({}) == 0  # a preview writes nothing

    posted = await post_purchase(
        client, token, order(member, "o-1", SATURDAY_EVENING, lines, **sent)
    )
    assert posted["userErrors"] == [] and posted["purchase"]["total"] == 320
    other_store = {**sent, "storeId": "s9"}
    by_cash = {**sent, "paymentMethod": "cash"}
    at_no_store = {"channel": "app", "paymentMethod": "card"}
    for n, facts in enumerate((other_store, by_cash, at_no_store)):
        result = await post_purchase(
            client, token, order(member, f"o-x{n}", SATURDAY_EVENING, [("food", "120")], **facts)
        )
        assert "rule:weekend-app" not in rules_of(result), facts
    tuesday = await post_purchase(
        client, token, order(member, "o-t", TUESDAY_MORNING, [("food", "120")], **sent)
    )
    assert "rule:weekend-app" not in rules_of(tuesday)


async def test_bad_store_and_payment_values_are_refused_before_any_write(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))  # every purchase here within the backdate days
    await make_program(runtime, clock, CONDITIONAL)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    for field, value, path in [
        ("storeId", "s" * 65, "storeId"),
        ("storeId", " \u200b ", "storeId"),
        ("paymentMethod", "p" * 33, "paymentMethod"),
        ("paymentMethod", "card\x07", "paymentMethod"),
    ]:
        result = await post_purchase(
            client,
            token,
            order(member, "o-bad", SATURDAY_EVENING, [("food", "1")], **{field: value}),
        )
        [error] = result["userErrors"]
        assert error["code"] == "INVALID_INPUT" and error["field"][-1] == path, result
    assert await runtime.mongo["ledger"].count_documents({}) == 0


async def test_every_third_purchase_is_counted_once_whatever_the_replays_and_races(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))  # every purchase here within the backdate days
    await make_program(runtime, clock, CONDITIONAL)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    first = order(member, "o-1", TUESDAY_MORNING, [("food", "10")])
    assert "rule:third" not in rules_of(await post_purchase(client, token, first))
    replay = await post_purchase(client, token, first)  # a till's retry is not a purchase
    assert "rule:third" not in rules_of(replay)
    racing = await asyncio.gather(
        *(
            post_purchase(client, token, order(member, f"o-{n}", TUESDAY_MORNING, [("food", "10")]))
            for n in range(2, 9)
        )
    )
    bonuses = [rules_of(result).get("rule:third", 0) for result in racing]
    assert sorted(bonuses) == [0, 0, 0, 0, 0, 100, 100]  # purchases 3 and 6 of 8
    count = await runtime.mongo["earn_facts"].find_one({"_id": f"{member}:purchases"})
    assert count is not None and count["count"] == 8


async def test_a_rules_monthly_cap_holds_across_purchases_and_starts_again_next_month(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))  # every purchase here within the backdate days
    await make_program(runtime, clock, CONDITIONAL)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    tea = [("tea", "10"), ("tea", "10")]
    march = ["2026-03-03T01:00:00Z", "2026-03-10T01:00:00Z", "2026-03-31T15:00:00Z"]  # 23:00 local
    results = [
        await post_purchase(client, token, order(member, f"m{n}", at, tea))
        for n, at in enumerate(march)
    ]
    net = [rules_of(r).get("rule:tea", 0) + rules_of(r).get("cap:rule:tea", 0) for r in results]
    assert net == [80, 20, 0]  # 100 in March: 80, then 20 of 80, then nothing
    assert [r["purchase"]["total"] for r in results] == [100, 40, 20 + 100]  # the 3rd's bonus
    april = await post_purchase(
        client, token, order(member, "a1", "2026-03-31T16:00:00Z", tea)
    )  # 00:00 on 1 April
    assert rules_of(april).get("rule:tea") == 80 and "cap:rule:tea" not in rules_of(april)


async def test_a_campaign_for_a_segment_reads_the_members_segments_at_the_purchase(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    vip_double = {
        "id": "vip-double",
        "name": "Double points for big spenders",
        "multiplier": "2",
        "when": {"fact": "segments", "in": ["big-spenders"]},
    }
    await make_program(
        runtime, clock, Program.model_validate({**PROGRAM.model_dump(), "campaigns": [vip_double]})
    )
    big, small = (
        await make_member(runtime, clock, name="Big"),
        await make_member(runtime, clock, name="Small"),
    )
    await earn(runtime.mongo, clock, member_id=big, points=1500, idempotency_key="e-big")
    await earn(runtime.mongo, clock, member_id=small, points=100, idempotency_key="e-small")
    await save_segment(
        runtime.mongo,
        clock,
        parse_segment(
            {"id": "big-spenders", "name": "Big", "when": {"fact": "lifetime_points", "gte": 1000}}
        ),
        actor="test",
    )
    token = await partner_token(runtime, clock, issuer)
    totals = {}
    for member in (big, small):
        result = await post_purchase(
            client, token, order(member, f"o-{member}", TUESDAY_MORNING, [("food", "100")])
        )
        totals[member] = rules_of(result)
    assert totals[big] == {"base": 100, "campaign:vip-double": 100}
    assert totals[small] == {"base": 100}
    preview = data(
        await ask(
            client, PREVIEW, token, {"input": order(small, "p", TUESDAY_MORNING, [("food", "10")])}
        )
    )["previewEarn"]
    assert [c["reason"] for c in preview["conditions"]] == ["segments in [big-spenders]"]
