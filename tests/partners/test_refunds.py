"""recordRefund over HTTP: exactly the points the refunded lines earned, in proportion, never twice."""

from __future__ import annotations

import asyncio

from app.program import Campaign
from tests.api.gql import make_member
from tests.ledger.conftest import assert_invariants
from tests.partners.api import (
    PROGRAM,
    balance,
    make_program,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
)


def order(member: str, *lines: tuple[str, int, str], order_id: str = "o-1") -> dict:
    payload = purchase_input(member, order_id)
    payload["lines"] = [
        {"lineId": line, "sku": line, "category": "food", "quantity": quantity, "amount": amount}
        for line, quantity, amount in lines
    ]
    return payload


def refund(refund_id: str, *lines: dict, order_id: str = "o-1") -> dict:
    return {"orderId": order_id, "refundId": refund_id, "lines": list(lines)}


async def setup(client, runtime, clock, issuer, program=PROGRAM):
    await make_program(runtime, clock, program)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    return member, token


async def test_partial_refunds_floor_and_the_last_takes_the_remainder(
    client, runtime, clock, issuer
):
    member, token = await setup(client, runtime, clock, issuer)
    await post_purchase(client, token, order(member, ("L1", 3, "100"), ("L2", 1, "20")))
    taken = []
    for n in range(3):
        result = await post_refund(client, token, refund(f"r{n}", {"lineId": "L1", "quantity": 1}))
        assert result["userErrors"] == []
        taken.append(result["refund"]["pointsReversed"])
    assert taken == [33, 33, 34]
    assert (await balance(client, token, member))["available"] == 20
    await assert_invariants(runtime.mongo)


async def test_a_replayed_refund_changes_nothing(client, runtime, clock, issuer):
    member, token = await setup(client, runtime, clock, issuer)
    await post_purchase(client, token, order(member, ("L1", 2, "100")))
    first = await post_refund(client, token, refund("r1", {"lineId": "L1", "quantity": 1}))
    again = await post_refund(client, token, refund("r1", {"lineId": "L1", "quantity": 1}))
    assert again == first and first["refund"]["pointsReversed"] == 50
    other = await post_refund(client, token, refund("r1", {"lineId": "L1", "amount": "10"}))
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert (await balance(client, token, member))["available"] == 50


async def test_refunding_more_than_is_left_of_a_line_is_refused(client, runtime, clock, issuer):
    member, token = await setup(client, runtime, clock, issuer)
    await post_purchase(client, token, order(member, ("L1", 2, "100")))
    await post_refund(client, token, refund("r1", {"lineId": "L1", "amount": "60"}))
    over = await post_refund(client, token, refund("r2", {"lineId": "L1", "amount": "40.01"}))
    assert over["userErrors"][0]["code"] == "OVER_REFUND"
    rest = await post_refund(client, token, refund("r3", {"lineId": "L1", "amount": "40"}))
    assert rest["refund"]["pointsReversed"] == 40
    again = await post_refund(client, token, refund("r4", {"lineId": "L1", "quantity": 1}))
    assert again["userErrors"][0]["code"] == "OVER_REFUND"
    assert (await balance(client, token, member))["available"] == 0


async def test_a_refund_of_no_units_or_no_money_is_invalid_input_not_an_over_refund(
    client, runtime, clock, issuer
):
    """An outside run asked back 0 and -1 units, and an amount of 0: each was refused as
    OVER_REFUND ("line L1: -1 units asked, 1 units left to refund"), which tells a till to look at
    what is left rather than at what it sent. Nothing to refund is invalid input, on its field."""
    member, token = await setup(client, runtime, clock, issuer)
    await post_purchase(client, token, order(member, ("L1", 1, "100")))
    for n, (line, field) in enumerate(
        [
            ({"lineId": "L1", "quantity": 0}, "quantity"),
            ({"lineId": "L1", "quantity": -1}, "quantity"),
            ({"lineId": "L1", "amount": "0"}, "amount"),
            ({"lineId": "L1", "amount": "0.0000"}, "amount"),
        ]
    ):
        refused = await post_refund(client, token, refund(f"r{n}", line))
        assert refused["refund"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID_INPUT", ["input", "lines", "0", field])
        ], line
    done = await post_refund(client, token, refund("r9", {"lineId": "L1", "quantity": 1}))
    assert done["refund"]["pointsReversed"] == 100
    await assert_invariants(runtime.mongo)


async def test_concurrent_refunds_of_one_line_never_reverse_more_than_it_earned(
    client, runtime, clock, issuer
):
    member, token = await setup(client, runtime, clock, issuer)
    await post_purchase(client, token, order(member, ("L1", 3, "90")))
    results = await asyncio.gather(
        *(
            post_refund(client, token, refund(f"r{n}", {"lineId": "L1", "quantity": 1}))
            for n in range(5)
        )
    )
    done = [r for r in results if r["refund"]]
    assert len(done) == 3
    assert sum(r["refund"]["pointsReversed"] for r in done) == 90
    assert {r["userErrors"][0]["code"] for r in results if not r["refund"]} == {"OVER_REFUND"}
    assert (await balance(client, token, member))["available"] == 0
    await assert_invariants(runtime.mongo)


async def test_order_level_points_follow_the_refunded_share_of_the_money(
    client, runtime, clock, issuer
):
    bonus = Campaign(id="bonus", name="Ten for every order", bonus_points=10)
    member, token = await setup(
        client, runtime, clock, issuer, PROGRAM.model_copy(update={"campaigns": (bonus,)})
    )
    bought = await post_purchase(client, token, order(member, ("L1", 1, "65"), ("L2", 1, "35")))
    assert bought["purchase"]["total"] == 110
    first = await post_refund(client, token, refund("r1", {"lineId": "L2", "quantity": 1}))
    assert first["refund"]["pointsReversed"] == 35 + 3  # floor(10 × 35 / 100)
    last = await post_refund(client, token, refund("r2", {"lineId": "L1", "quantity": 1}))
    assert last["refund"]["pointsReversed"] == 65 + 7
    assert (await balance(client, token, member))["available"] == 0


async def test_spent_points_of_a_refunded_order_become_debt(client, runtime, clock, issuer):
    member, token = await setup(client, runtime, clock, issuer)
    await post_purchase(client, token, order(member, ("L1", 1, "100")))
    from tests.partners.api import capture, hold

    held = await hold(client, token, member, 100, "o-2", "h1")
    await capture(client, token, held["id"], "c1")
    await post_refund(client, token, refund("r1", {"lineId": "L1", "quantity": 1}))
    assert await balance(client, token, member) == {
        "available": 0,
        "pending": 0,
        "held": 0,
        "debt": 100,
    }
    await assert_invariants(runtime.mongo)


async def test_another_partners_order_is_not_found(client, runtime, clock, issuer):
    member, token = await setup(client, runtime, clock, issuer)
    other = await partner_token(runtime, clock, issuer, name="Other shop")
    await post_purchase(client, token, order(member, ("L1", 1, "100")))
    result = await post_refund(client, other, refund("r1", {"lineId": "L1", "quantity": 1}))
    assert result["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await balance(client, token, member))["available"] == 100


async def test_a_refund_of_a_line_that_earned_nothing_is_recorded_and_replayed(
    client, runtime, clock, issuer
):
    from app.program import EarnRules, Exclusions

    rules = EarnRules(exclusions=Exclusions(categories=("giftcard",)))
    member, token = await setup(
        client, runtime, clock, issuer, PROGRAM.model_copy(update={"earn": rules})
    )
    payload = order(member, ("L1", 1, "100"))
    payload["lines"][0]["category"] = "giftcard"
    assert (await post_purchase(client, token, payload))["purchase"]["status"] == "NONE"
    first = await post_refund(client, token, refund("r1", {"lineId": "L1", "quantity": 1}))
    assert first["refund"]["pointsReversed"] == 0
    assert await post_refund(client, token, refund("r1", {"lineId": "L1", "quantity": 1})) == first
    over = await post_refund(client, token, refund("r2", {"lineId": "L1", "quantity": 1}))
    assert over["userErrors"][0]["code"] == "OVER_REFUND"
    assert await runtime.mongo["ledger"].count_documents({"member_id": member}) == 0
