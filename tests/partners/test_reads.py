"""A till reads back its own orders, holds and refunds by its own ids; another partner's are null,
exactly like missing ones."""

from __future__ import annotations

from datetime import timedelta

from tests.api.gql import ask, codes, data, earn_points, make_member, member_token
from tests.partners.api import (
    PROGRAM,
    capture,
    fresh_token,
    hold,
    make_program,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
)

ORDER = """query($id: String!) { partnerOrder(orderId: $id) {
  orderId occurredAt recordedAt channel total orderPoints pointsReversed pointsUsed pointsReturned
  status availableAt
  lines { lineId sku category quantity amount pointsEarned refundedQuantity refundedAmount
          pointsReversed }
  breakdown { rule points lineId } entry { kind points } } }"""
HOLD = """query($id: ID!) { hold(id: $id) { points captured status expiresAt orderId } }"""
REFUND = """query($order: String!, $refund: String!) { refund(orderId: $order, refundId: $refund) {
  orderId refundId amount pointsReversed pointsReturned recordedAt
  lines { lineId quantity amount pointsReversed } } }"""


async def read(client, token, query, **variables):
    return data(await ask(client, query, token, variables))


async def paid_order(runtime, clock, issuer):
    """Order O: 2 × 60 and 1 × 40 CNY, 400 of its points paid with a captured hold, pending for
    the 7-day return window; then one unit of L1 refunded."""
    await make_program(runtime, clock, PROGRAM.model_copy(update={"return_window_days": 7}))
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 1_000, "seed")
    return member, await partner_token(runtime, clock, issuer)


async def test_a_till_reads_back_its_order_and_refund_with_what_was_taken_and_given(
    client, runtime, clock, issuer
):
    member, token = await paid_order(runtime, clock, issuer)
    held = await hold(client, token, member, 400, "O", "h1")
    await capture(client, token, held["id"], "c1")
    payload = purchase_input(member, "O", amounts=("120", "40"), pointsUsed=400, channel="app")
    payload["lines"][0]["quantity"] = 2
    assert (await post_purchase(client, token, payload))["userErrors"] == []
    refund = {"orderId": "O", "refundId": "R1", "lines": [{"lineId": "L1", "quantity": 1}]}
    refunded = (await post_refund(client, token, refund))["refund"]

    order = (await read(client, token, ORDER, id="O"))["partnerOrder"]
    assert order == {
        "orderId": "O",
        "occurredAt": "2026-01-15T08:00:00.000+00:00",
        "recordedAt": "2026-01-15T09:00:00.000+00:00",
        "channel": "app",
        "total": 160,
        "orderPoints": 0,
        "pointsReversed": 60,
        "pointsUsed": 400,
        "pointsReturned": 150,
        "status": "PENDING",
        "availableAt": "2026-01-22T08:00:00.000+00:00",
        "lines": [
            {
                "lineId": "L1",
                "sku": "SKU1",
                "category": "food",
                "quantity": 2,
                "amount": "120",
                "pointsEarned": 120,
                "refundedQuantity": 1,
                "refundedAmount": "60",
                "pointsReversed": 60,
            },
            {
                "lineId": "L2",
                "sku": "SKU2",
                "category": "food",
                "quantity": 1,
                "amount": "40",
                "pointsEarned": 40,
                "refundedQuantity": 0,
                "refundedAmount": "0",
                "pointsReversed": 0,
            },
        ],
        "breakdown": [
            {"rule": "base", "points": 120, "lineId": "L1"},
            {"rule": "base", "points": 40, "lineId": "L2"},
        ],
        "entry": {"kind": "EARN", "points": 160},
    }
    found = (await read(client, token, REFUND, order="O", refund="R1"))["refund"]
    assert found == {
        "orderId": "O",
        "refundId": "R1",
        "amount": "60",
        "pointsReversed": 60,
        "pointsReturned": 150,
        "recordedAt": "2026-01-15T09:00:00.000+00:00",
        "lines": [{"lineId": "L1", "quantity": 1, "amount": "60", "pointsReversed": 60}],
    }
    assert {k: found[k] for k in ("pointsReversed", "pointsReturned")} == {
        k: refunded[k] for k in ("pointsReversed", "pointsReturned")
    }
    clock.advance(timedelta(days=8))
    token = await fresh_token(runtime, issuer)
    assert (await read(client, token, ORDER, id="O"))["partnerOrder"]["status"] == "AVAILABLE"


async def test_a_till_reads_back_its_holds_as_they_stand(client, runtime, clock, issuer):
    member, token = await paid_order(runtime, clock, issuer)
    held = await hold(client, token, member, 300, "O", "h1", ttlMinutes=10)
    assert (await read(client, token, HOLD, id=held["id"]))["hold"] == {
        "points": 300,
        "captured": 0,
        "status": "ACTIVE",
        "expiresAt": "2026-01-15T09:10:00.000+00:00",
        "orderId": "O",
    }
    await capture(client, token, held["id"], "c1", points=200)
    captured = (await read(client, token, HOLD, id=held["id"]))["hold"]
    assert (captured["status"], captured["captured"]) == ("CAPTURED", 200)
    lapsing = await hold(client, token, member, 100, "O2", "h2", ttlMinutes=5)
    clock.advance(timedelta(minutes=6))  # past its TTL; the worker has not released it yet
    assert (await read(client, token, HOLD, id=lapsing["id"]))["hold"]["status"] == "EXPIRED"


async def test_another_partners_ids_read_null_exactly_like_missing_ones(
    client, runtime, clock, issuer
):
    member, token = await paid_order(runtime, clock, issuer)
    held = await hold(client, token, member, 300, "O", "h1")
    await post_purchase(client, token, purchase_input(member, "O"))
    refund = {"orderId": "O", "refundId": "R1", "lines": [{"lineId": "L1", "quantity": 1}]}
    await post_refund(client, token, refund)
    other = await partner_token(runtime, clock, issuer, name="Other shop")
    assert (await read(client, other, ORDER, id="O"))["partnerOrder"] is None
    assert (await read(client, other, HOLD, id=held["id"]))["hold"] is None
    assert (await read(client, other, REFUND, order="O", refund="R1"))["refund"] is None
    # Missing, malformed or overlong ids read the same null, never an error.
    assert (await read(client, token, ORDER, id="nope"))["partnerOrder"] is None
    assert (await read(client, token, ORDER, id="O" * 5000))["partnerOrder"] is None
    assert (await read(client, token, HOLD, id="!!!"))["hold"] is None
    assert (await read(client, token, REFUND, order="O", refund="R2"))["refund"] is None
    assert (await read(client, token, REFUND, order="O", refund="R" * 5000))["refund"] is None


async def test_reading_back_needs_points_read_or_the_scope_that_made_it(
    client, runtime, clock, issuer
):
    member, token = await paid_order(runtime, clock, issuer)
    held = await hold(client, token, member, 300, "O", "h1")
    await post_purchase(client, token, purchase_input(member, "O"))
    till = await fresh_token(runtime, issuer, scopes=("points:earn",))
    assert (await read(client, till, ORDER, id="O"))["partnerOrder"]["orderId"] == "O"
    assert codes(await ask(client, HOLD, till, {"id": held["id"]})) == ["FORBIDDEN"]
    cashier = await fresh_token(runtime, issuer, scopes=("points:redeem",))
    assert (await read(client, cashier, HOLD, id=held["id"]))["hold"]["points"] == 300
    assert codes(await ask(client, ORDER, cashier, {"id": "O"})) == ["FORBIDDEN"]
    reader = await fresh_token(runtime, issuer, scopes=("points:read",))
    assert (await read(client, reader, ORDER, id="O"))["partnerOrder"]["total"] == 100
    assert codes(await ask(client, ORDER, member_token(issuer, member), {"id": "O"})) == [
        "FORBIDDEN"
    ]
