"""Paying with points (积分抵扣): quote, hold, capture (all or part), release; and their refunds."""

from __future__ import annotations

from tests.api.gql import ask, data, earn_points, make_member
from tests.ledger.conftest import assert_invariants
from tests.partners.api import (
    HOLD,
    QUOTE,
    RELEASE,
    balance,
    capture,
    hold,
    make_program,
    member_ref,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
)


async def setup(runtime, clock, issuer, points=1_000):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    if points:
        await earn_points(runtime, clock, member, points, "seed")
    return member, await partner_token(runtime, clock, issuer)


async def test_a_quote_is_capped_by_the_share_of_the_order_and_by_the_balance(
    client, runtime, clock, issuer
):
    member, token = await setup(runtime, clock, issuer, points=1_005)
    ask_quote = {"member": member_ref(member), "amount": "8.99"}
    quote = data(await ask(client, QUOTE, token, ask_quote))["quoteOffset"]
    # half of 8.99 is 4.495: 449 points at 0.01, in steps of 10
    assert quote == {"points": 440, "value": "4.4", "pointValue": "0.01", "available": 1005}
    ask_quote["amount"] = "1000"
    quote = data(await ask(client, QUOTE, token, ask_quote))["quoteOffset"]
    assert quote["points"] == 1_000


async def test_hold_then_capture_part_gives_the_rest_back(client, runtime, clock, issuer):
    member, token = await setup(runtime, clock, issuer)
    held = await hold(client, token, member, 300, "o-1", "h1")
    assert (await balance(client, token, member))["held"] == 300
    first = await capture(client, token, held["id"], "c1", points=200)
    assert first["entry"] == {"kind": "REDEEM", "points": -200}
    assert await capture(client, token, held["id"], "c1", points=200) == first
    conflict = await capture(client, token, held["id"], "c1", points=100)
    assert conflict["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert await balance(client, token, member) == {
        "available": 800,
        "pending": 0,
        "held": 0,
        "debt": 0,
    }
    again = await capture(client, token, held["id"], "c2")
    assert again["userErrors"][0]["code"] == "HOLD_NOT_ACTIVE"


async def test_a_released_or_lapsed_hold_gives_the_points_back(client, runtime, clock, issuer):
    from datetime import timedelta

    from app.ledger import release_expired_holds

    member, token = await setup(runtime, clock, issuer)
    held = await hold(client, token, member, 300, "o-1", "h1")
    released = data(await ask(client, RELEASE, token, {"id": held["id"]}))["releasePoints"]
    assert released["hold"]["status"] == "RELEASED"
    short = await hold(client, token, member, 100, "o-2", "h2", ttlMinutes=5)
    clock.advance(timedelta(minutes=6))
    await release_expired_holds(runtime.mongo, clock)
    lapsed = await capture(client, token, short["id"], "c1")
    assert lapsed["userErrors"][0]["code"] == "HOLD_NOT_ACTIVE"
    assert (await balance(client, token, member))["available"] == 1_000


async def test_holding_more_than_the_balance_is_refused(client, runtime, clock, issuer):
    member, token = await setup(runtime, clock, issuer)
    body = {"member": member_ref(member), "points": 2_000, "orderId": "o-1", "idempotencyKey": "k"}
    result = data(await ask(client, HOLD, token, {"input": body}))["holdPoints"]
    assert result["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"


async def test_another_partners_hold_is_not_found(client, runtime, clock, issuer):
    member, token = await setup(runtime, clock, issuer)
    other = await partner_token(runtime, clock, issuer, name="Other shop")
    held = await hold(client, token, member, 300, "o-1", "h1")
    assert (await capture(client, other, held["id"], "c1"))["userErrors"][0]["code"] == "NOT_FOUND"
    released = data(await ask(client, RELEASE, other, {"id": held["id"]}))["releasePoints"]
    assert released["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await balance(client, token, member))["held"] == 300


async def test_a_refund_gives_back_in_proportion_the_points_that_paid(
    client, runtime, clock, issuer
):
    member, token = await setup(runtime, clock, issuer)
    held = await hold(client, token, member, 400, "o-1", "h1")
    await capture(client, token, held["id"], "c1")
    payload = purchase_input(member, "o-1", amounts=("60", "40"), pointsUsed=400)
    bought = await post_purchase(client, token, payload)
    assert bought["purchase"]["total"] == 100
    refund = {"orderId": "o-1", "refundId": "r1", "lines": [{"lineId": "L2", "quantity": 1}]}
    first = (await post_refund(client, token, refund))["refund"]
    assert (first["pointsReversed"], first["pointsReturned"]) == (40, 160)
    refund = {"orderId": "o-1", "refundId": "r2", "lines": [{"lineId": "L1", "amount": "60"}]}
    last = (await post_refund(client, token, refund))["refund"]
    assert (last["pointsReversed"], last["pointsReturned"]) == (60, 240)
    assert (await balance(client, token, member))["available"] == 1_000
    await assert_invariants(runtime.mongo)


async def test_points_used_beyond_what_was_captured_are_refused(client, runtime, clock, issuer):
    member, token = await setup(runtime, clock, issuer)
    payload = purchase_input(member, "o-1", pointsUsed=50)
    result = await post_purchase(client, token, payload)
    assert result["userErrors"][0]["field"] == ["input", "pointsUsed"]


async def test_a_query_names_the_faulty_argument_as_the_field_is_called(
    client, runtime, clock, issuer
):
    """quoteOffset and memberBalance take `member` directly, not inside `input`."""
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    both = member_ref(member) | {"phone": "+8613800138000"}
    quote = await ask(client, QUOTE, token, {"member": both, "amount": "100"})
    assert quote["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["member"]}
    amount = await ask(client, QUOTE, token, {"member": member_ref(member), "amount": "1_000"})
    assert amount["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["orderAmount"]}
    balance_query = "query($m: MemberRefInput!) { memberBalance(member: $m) { available } }"
    body = await ask(client, balance_query, token, {"m": {"phone": "not a phone"}})
    assert body["errors"][0]["extensions"]["field"] == ["member", "phone"]
