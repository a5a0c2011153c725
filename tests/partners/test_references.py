"""Every reference in a partner request (member, order, hold, refund) belongs to the caller and to
one member: points captured from one member never pay for, nor come back through, another's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.ledger import Rolling
from app.partners import LineInput, MemberRef, PurchaseRequest
from app.partners.purchase_input import check_purchase, fingerprint
from tests.api.gql import ask, data, earn_points, make_member
from tests.ledger.conftest import assert_invariants
from tests.partners.api import (
    HOLD,
    RELEASE,
    balance,
    capture,
    fresh_token,
    hold,
    make_program,
    member_ref,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
)

EMPTY = {"available": 0, "pending": 0, "held": 0, "debt": 0}


def refund_all(order_id: str, refund_id: str = "r1") -> dict:
    return {"orderId": order_id, "refundId": refund_id, "lines": [{"lineId": "L1", "quantity": 1}]}


async def two_members(runtime, clock, issuer, points=1_000):
    await make_program(runtime, clock)
    v = await make_member(runtime, clock, name="V")
    w = await make_member(runtime, clock, name="W")
    if points:
        await earn_points(runtime, clock, v, points, "seed-v")
    return v, w, await partner_token(runtime, clock, issuer)


async def try_hold(client, token, member, points, order_id, key) -> dict:
    body = {
        "member": member_ref(member),
        "points": points,
        "orderId": order_id,
        "idempotencyKey": key,
    }
    result: dict = data(await ask(client, HOLD, token, {"input": body}))["holdPoints"]
    return result


async def test_points_captured_from_one_member_never_reach_another_through_the_order_id(
    client, runtime, clock, issuer
):
    """Issue 20: hold and capture V's 1,000 points for O, post O for W with pointsUsed 1,000,
    refund O: W gained V's points as never-expiring points."""
    v, w, token = await two_members(runtime, clock, issuer)
    held = await hold(client, token, v, 1_000, "O", "h1")
    assert (await capture(client, token, held["id"], "c1"))["userErrors"] == []
    payload = purchase_input(w, "O", pointsUsed=1_000)
    bought = await post_purchase(client, token, payload)
    assert bought["purchase"] is None
    assert bought["userErrors"] == [
        {
            "code": "INVALID_INPUT",
            "field": ["input", "member"],
            "message": "this order id is another member's order",
        },
    ]
    refunded = await post_refund(client, token, refund_all("O"))
    assert refunded["userErrors"][0]["code"] == "NOT_FOUND"
    assert await balance(client, token, v) == EMPTY  # what its own capture paid, nothing more
    assert await balance(client, token, w) == EMPTY
    assert await runtime.mongo["ledger"].count_documents({"member_id": w}) == 0
    await assert_invariants(runtime.mongo)


async def test_a_refund_gives_paid_points_back_with_the_terms_they_were_earned_under(
    client, runtime, clock, issuer
):
    """Points that paid for an order come back to their member with their lots' expiry, as a
    cancelled redemption's do; those whose expiry passed meanwhile stay expired."""
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 200, "soon", policy=Rolling(days=5))
    await earn_points(runtime, clock, member, 800, "later", policy=Rolling(days=60))
    token = await partner_token(runtime, clock, issuer)
    held = await hold(client, token, member, 400, "O", "h1")
    await capture(client, token, held["id"], "c1")
    bought = await post_purchase(client, token, purchase_input(member, "O", pointsUsed=400))
    assert bought["userErrors"] == []
    clock.advance(timedelta(days=10))  # the 200 points expiring in 5 days have gone by now
    token = await fresh_token(runtime, issuer)
    refunded = (await post_refund(client, token, refund_all("O")))["refund"]
    assert (refunded["pointsReversed"], refunded["pointsReturned"]) == (100, 400)
    # The 600 left of the 800 and the 200 of them that paid; the other 200 expired since.
    assert (await balance(client, token, member))["available"] == 800
    restored = await runtime.mongo["ledger"].find_one(
        {"kind": "REVERSAL", "restored": {"$ne": None}}
    )
    assert restored["member_id"] == member and restored["points"] == 200
    assert restored["restored"] == {"points": 400, "given_back": 200, "expired_since": 200}
    later = await runtime.mongo["lots"].find_one({"amount": 800})
    given = await runtime.mongo["lots"].find_one({"source_entry_id": restored["_id"]})
    assert given["expires_at"] == later["expires_at"] and given["earned_at"] == later["earned_at"]
    await assert_invariants(runtime.mongo)


async def test_partial_refunds_give_back_each_captured_point_once(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 300, "a", policy=Rolling(days=20))
    await earn_points(runtime, clock, member, 700, "b", policy=Rolling(days=40))
    token = await partner_token(runtime, clock, issuer)
    held = await hold(client, token, member, 1_000, "O", "h1")
    await capture(client, token, held["id"], "c1")
    payload = purchase_input(member, "O", amounts=("60", "40"), pointsUsed=1_000)
    assert (await post_purchase(client, token, payload))["userErrors"] == []
    first = {"orderId": "O", "refundId": "r1", "lines": [{"lineId": "L2", "quantity": 1}]}
    assert (await post_refund(client, token, first))["refund"]["pointsReturned"] == 400
    last = {"orderId": "O", "refundId": "r2", "lines": [{"lineId": "L1", "quantity": 1}]}
    assert (await post_refund(client, token, last))["refund"]["pointsReturned"] == 600
    assert (await balance(client, token, member))["available"] == 1_000
    expiries = sorted(
        [
            (lot["expires_at"], lot["amount"])
            async for lot in runtime.mongo["lots"].find({"status": "available"})
        ]
    )
    assert [amount for _, amount in expiries] == [300, 100, 600]  # a's 300, b's 700 in two parts
    await assert_invariants(runtime.mongo)


async def test_one_order_id_holds_one_members_points(client, runtime, clock, issuer):
    v, w, token = await two_members(runtime, clock, issuer)
    await earn_points(runtime, clock, w, 1_000, "seed-w")
    await hold(client, token, v, 300, "O", "h1")
    other = await try_hold(client, token, w, 300, "O", "h2")
    assert other["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "member"]}]
    assert await hold(client, token, v, 100, "O", "h3")  # the same member again: a second hold
    assert (await balance(client, token, w))["held"] == 0
    await assert_invariants(runtime.mongo)


async def test_an_order_posted_for_one_member_pays_with_no_other_members_points(
    client, runtime, clock, issuer
):
    v, w, token = await two_members(runtime, clock, issuer)
    held = await hold(client, token, v, 300, "O", "h1")
    # A hold placed before holds bound their order id (tests/partners/test_order_binding.py).
    assert (await runtime.mongo["orders"].delete_one({"request_hash": None})).deleted_count == 1
    assert (await post_purchase(client, token, purchase_input(w, "O")))["userErrors"] == []
    # Held before the order was posted for W: V's hold cannot pay for it, and goes back whole.
    refused = await capture(client, token, held["id"], "c1")
    assert refused["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "holdId"]}]
    released = data(await ask(client, RELEASE, token, {"id": held["id"]}))["releasePoints"]
    assert released["hold"]["status"] == "RELEASED"
    late = await try_hold(client, token, v, 300, "O", "h2")
    assert late["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "member"]}]
    assert (await balance(client, token, v))["available"] == 1_000
    await assert_invariants(runtime.mongo)


async def test_points_captured_by_one_partner_pay_for_no_order_of_another(
    client, runtime, clock, issuer
):
    v, _, token = await two_members(runtime, clock, issuer)
    other = await partner_token(runtime, clock, issuer, name="Other shop")
    held = await hold(client, token, v, 1_000, "O", "h1")
    await capture(client, token, held["id"], "c1")
    bought = await post_purchase(client, other, purchase_input(v, "O", pointsUsed=1_000))
    assert bought["userErrors"][0]["field"] == ["input", "pointsUsed"]
    assert (await post_refund(client, other, refund_all("O")))["userErrors"][0]["code"] == (
        "NOT_FOUND"
    )
    assert (await balance(client, token, v))["available"] == 0
    await assert_invariants(runtime.mongo)


async def test_a_refund_id_used_for_two_orders_refunds_each_to_its_own_member(
    client, runtime, clock, issuer
):
    v, w, token = await two_members(runtime, clock, issuer, points=0)
    await post_purchase(client, token, purchase_input(v, "O1", amounts=("100",)))
    await post_purchase(client, token, purchase_input(w, "O2", amounts=("30",)))
    first = await post_refund(client, token, refund_all("O1", "r1"))
    second = await post_refund(client, token, refund_all("O2", "r1"))
    assert (first["refund"]["pointsReversed"], second["refund"]["pointsReversed"]) == (100, 30)
    assert await post_refund(client, token, refund_all("O1", "r1")) == first
    assert await balance(client, token, v) == EMPTY
    assert await balance(client, token, w) == EMPTY
    await assert_invariants(runtime.mongo)


async def test_an_order_posted_by_phone_and_again_by_member_number_is_one_order(
    client, runtime, clock, issuer
):
    """Issue 20, item 7: the replay was IDEMPOTENCY_CONFLICT; the member is compared as resolved."""
    await make_program(runtime, clock)
    member = await make_member(runtime, clock, phone="+8613800138000")
    other = await make_member(runtime, clock, name="Han Meimei")
    number = (await runtime.mongo["members"].find_one({"_id": member}))["member_no"]
    token = await partner_token(runtime, clock, issuer)
    by_phone = purchase_input(member, "O") | {"member": {"phone": "138 0013 8000"}}
    first = await post_purchase(client, token, by_phone)
    assert first["purchase"]["total"] == 100
    by_number = purchase_input(member, "O") | {"member": {"memberNo": number}}
    assert await post_purchase(client, token, by_number) == first
    assert await post_purchase(client, token, purchase_input(member, "O")) == first
    someone_else = await post_purchase(client, token, purchase_input(other, "O"))
    assert someone_else["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert (await balance(client, token, member))["available"] == 100


async def test_a_hold_placed_by_phone_and_again_by_member_number_is_one_hold(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock, phone="+8613800138000")
    await earn_points(runtime, clock, member, 1_000, "seed")
    number = (await runtime.mongo["members"].find_one({"_id": member}))["member_no"]
    token = await partner_token(runtime, clock, issuer)
    body = {"points": 300, "orderId": "O", "idempotencyKey": "h1"}
    by_phone = {**body, "member": {"phone": "+86 138-0013-8000"}}
    first = data(await ask(client, HOLD, token, {"input": by_phone}))["holdPoints"]
    by_number = {**body, "member": {"memberNo": number}}
    again = data(await ask(client, HOLD, token, {"input": by_number}))["holdPoints"]
    assert again == first and first["hold"]["points"] == 300
    assert (await balance(client, token, member))["held"] == 300


async def test_an_order_fingerprinted_by_its_reference_form_before_still_replays(
    client, runtime, clock, issuer
):
    """Orders recorded before members were resolved first kept the reference's form."""
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    number = (await runtime.mongo["members"].find_one({"_id": member}))["member_no"]
    token = await partner_token(runtime, clock, issuer)
    by_number = purchase_input(member, "O") | {"member": {"memberNo": number}}
    first = await post_purchase(client, token, by_number)
    line = LineInput("L1", "SKU1", "food", 1, "100")
    request = PurchaseRequest(
        MemberRef(member_no=number), "O", datetime(2026, 1, 15, 8, tzinfo=UTC), (line,)
    )
    legacy = {"$set": {"request_hash": fingerprint(request, check_purchase(request), None)}}
    await runtime.mongo["orders"].update_one({}, legacy)
    await runtime.mongo["ledger"].update_one({"kind": "EARN"}, legacy)
    assert await post_purchase(client, token, by_number) == first
    other = await post_purchase(client, token, by_number | {"channel": "app"})
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
