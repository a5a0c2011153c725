"""An order id belongs to one member, whichever comes first: a hold or capture of one member's
points for it, or a purchase posted for another (issue 20, item 2). The binding is the order's own
`_id` in `orders`, written by the command each request sends anyway, so two requests racing for an
order id conflict on it and exactly one member ends up owning it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.ledger import Rolling
from tests.api.gql import ask, data, earn_points, make_member
from tests.api.test_command_counts import commands
from tests.ledger.conftest import assert_invariants
from tests.partners.api import (
    CAPTURE,
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
from tests.partners.test_references import EMPTY, refund_all, try_hold

ANOTHER_MEMBERS = {
    "code": "INVALID_INPUT",
    "field": ["input", "member"],
    "message": "this order id is another member's order",
}


async def two_members(runtime, clock, issuer):
    """V with 1,000 points expiring 60 days after they were earned, W with none, and a till."""
    await make_program(runtime, clock)
    v = await make_member(runtime, clock, name="V")
    w = await make_member(runtime, clock, name="W")
    await earn_points(runtime, clock, v, 1_000, "seed-v", policy=Rolling(days=60))
    return v, w, await partner_token(runtime, clock, issuer)


async def assert_nothing_written_for(runtime, member: str) -> None:
    for collection in ("ledger", "lots", "orders", "order_points"):
        assert await runtime.mongo[collection].count_documents({"member_id": member}) == 0


async def test_a_purchase_for_another_member_on_a_captured_order_is_refused(
    client, runtime, clock, issuer
):
    """The outside run's sequence: hold and capture V's 1,000 points for O, post O for W with no
    points used, refund O. W's purchase is refused, so O was never posted and has no refund: V's
    points paid for V's checkout and W has nothing."""
    v, w, token = await two_members(runtime, clock, issuer)
    held = await hold(client, token, v, 1_000, "O", "h1")
    assert (await capture(client, token, held["id"], "c1"))["userErrors"] == []
    refused = await post_purchase(client, token, purchase_input(w, "O", pointsUsed=0))
    assert refused == {"purchase": None, "userErrors": [ANOTHER_MEMBERS]}
    refunded = await post_refund(client, token, refund_all("O"))
    assert refunded["refund"] is None and refunded["userErrors"][0]["code"] == "NOT_FOUND"
    assert await balance(client, token, v) == EMPTY
    assert await balance(client, token, w) == EMPTY
    await assert_nothing_written_for(runtime, w)
    await assert_invariants(runtime.mongo)


async def test_a_held_order_is_posted_for_its_member_only_and_refunds_to_them(
    client, runtime, clock, issuer
):
    """V's checkout goes on as if W's till had never posted: V's purchase counts V's capture as
    points used, and its refund gives them back to V with the expiry they were earned with."""
    v, w, token = await two_members(runtime, clock, issuer)
    held = await hold(client, token, v, 300, "O", "h1")
    refused = await post_purchase(client, token, purchase_input(w, "O"))
    assert refused == {"purchase": None, "userErrors": [ANOTHER_MEMBERS]}
    await assert_nothing_written_for(runtime, w)
    assert (await capture(client, token, held["id"], "c1"))["userErrors"] == []
    bought = await post_purchase(client, token, purchase_input(v, "O", pointsUsed=300))
    assert bought["userErrors"] == [] and bought["purchase"]["total"] == 100
    assert await post_purchase(client, token, purchase_input(v, "O", pointsUsed=300)) == bought
    assert await runtime.mongo["orders"].count_documents({}) == 1
    refunded = (await post_refund(client, token, refund_all("O")))["refund"]
    assert (refunded["pointsReversed"], refunded["pointsReturned"]) == (100, 300)
    assert await balance(client, token, v) == EMPTY | {"available": 1_000}
    assert await balance(client, token, w) == EMPTY
    seeded = await runtime.mongo["lots"].find_one({"amount": 1_000})
    restored = await runtime.mongo["ledger"].find_one({"kind": "REVERSAL", "points": 300})
    assert restored["member_id"] == v
    given = await runtime.mongo["lots"].find_one({"source_entry_id": restored["_id"]})
    assert given["member_id"] == v and given["remaining"] == 300
    assert given["expires_at"] == seeded["expires_at"] is not None
    await assert_invariants(runtime.mongo)


async def test_a_held_order_not_yet_posted_is_no_order_to_read_or_refund(
    client, runtime, clock, issuer
):
    v, w, token = await two_members(runtime, clock, issuer)
    await hold(client, token, v, 300, "O", "h1")
    query = 'query { partnerOrder(orderId: "O") { orderId } }'
    assert data(await ask(client, query, token))["partnerOrder"] is None
    refunded = await post_refund(client, token, refund_all("O"))
    assert refunded["userErrors"][0]["code"] == "NOT_FOUND"
    # Yet the order id is V's.
    refused = await post_purchase(client, token, purchase_input(w, "O"))
    assert refused["userErrors"] == [ANOTHER_MEMBERS]


async def test_a_hold_for_another_member_on_a_posted_order_is_refused(
    client, runtime, clock, issuer
):
    v, w, token = await two_members(runtime, clock, issuer)
    first = await post_purchase(client, token, purchase_input(w, "O"))
    assert first["userErrors"] == []
    refused = await try_hold(client, token, v, 300, "O", "h1")
    assert refused == {
        "hold": None,
        "userErrors": [{"code": "INVALID_INPUT", "field": ["input", "member"]}],
    }
    assert await try_hold(client, token, v, 300, "O", "h1") == refused
    assert await post_purchase(client, token, purchase_input(w, "O")) == first
    assert (await balance(client, token, v))["held"] == 0
    # W's order is W's: its refund takes back W's points, and gives nothing of V's.
    refunded = (await post_refund(client, token, refund_all("O")))["refund"]
    assert (refunded["pointsReversed"], refunded["pointsReturned"]) == (100, 0)
    assert await balance(client, token, v) == EMPTY | {"available": 1_000}
    assert await balance(client, token, w) == EMPTY
    await assert_invariants(runtime.mongo)


async def test_a_hold_and_another_members_purchase_racing_for_an_order_id_leave_one_owner(
    client, runtime, clock, issuer
):
    v, w, token = await two_members(runtime, clock, issuer)
    orders = [f"race-{n}" for n in range(8)]

    async def race(order_id: str) -> tuple[dict, dict]:
        held, bought = await asyncio.gather(
            try_hold(client, token, v, 100, order_id, order_id),
            post_purchase(client, token, purchase_input(w, order_id)),
        )
        return held, bought

    outcomes = await asyncio.gather(*(race(order_id) for order_id in orders))
    for order_id, (held, bought) in zip(orders, outcomes, strict=True):
        if held["hold"] is not None:
            assert bought == {"purchase": None, "userErrors": [ANOTHER_MEMBERS]}, order_id
        else:
            assert held["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "member"]}]
            assert bought["userErrors"] == [] and bought["purchase"]["total"] == 100, order_id
        # Replays answer what the first requests were answered.
        assert await try_hold(client, token, v, 100, order_id, order_id) == held
        assert await post_purchase(client, token, purchase_input(w, order_id)) == bought
    won = sum(bought["purchase"] is not None for _, bought in outcomes)
    assert await runtime.mongo["orders"].count_documents({"member_id": w}) == won
    assert await runtime.mongo["orders"].count_documents({"member_id": v}) == len(orders) - won
    earned = await balance(client, token, w)
    assert earned["available"] + earned["pending"] == 100 * won
    held_points = 100 * (len(orders) - won)
    assert await balance(client, token, v) == EMPTY | {
        "available": 1_000 - held_points,
        "held": held_points,
    }
    await assert_invariants(runtime.mongo)


async def test_what_a_hold_and_a_capture_cost(client, runtime, clock, settings, issuer):
    v, _, token = await two_members(runtime, clock, issuer)
    await hold(client, token, v, 100, "warm", "warm")  # the program cached
    body = {
        "input": {"member": member_ref(v), "points": 300, "orderId": "O", "idempotencyKey": "h1"}
    }
    sent, held = await commands(settings, lambda: ask(client, HOLD, token, body))
    hold_id = data(held)["holdPoints"]["hold"]["id"]
    # The order id is bound by one upsert on its `orders` document (payments.claim_order), which
    # replaced the read of the order and the upsert on `order_points` (10 commands before); the
    # hold's event for the brand's webhooks is one insert more, in the same transaction.
    assert sent.count("update") == 3 and len(sent) <= 10, sent
    capture_body = {"input": {"holdId": hold_id, "idempotencyKey": "c1", "points": None}}
    sent, captured = await commands(settings, lambda: ask(client, CAPTURE, token, capture_body))
    assert data(captured)["capturePoints"]["userErrors"] == []
    # The binding's upsert replaced the read of the order: 12 commands, as before, and the
    # capture's event one insert more.
    assert len(sent) <= 13, sent


async def test_an_order_id_whose_hold_ended_unpaid_can_be_posted_or_held_for_another_member(
    client, runtime, clock, issuer
):
    """A till holds V's points for O, the customer changes their mind and the till releases them
    (or lets the hold lapse): nothing of V's paid for O, so O may be posted for W, or held for
    W. An order id with a capture, or with V's hold still live, stays V's."""
    v, w, token = await two_members(runtime, clock, issuer)
    await earn_points(runtime, clock, w, 500, "seed-w", policy=Rolling(days=60))
    held = await hold(client, token, v, 300, "O1", "h1")
    released = data(await ask(client, RELEASE, token, {"id": held["id"]}))["releasePoints"]
    assert released["hold"]["status"] == "RELEASED"
    bought = await post_purchase(client, token, purchase_input(w, "O1"))
    assert bought["userErrors"] == [] and bought["purchase"]["total"] == 100
    assert await post_purchase(client, token, purchase_input(w, "O1")) == bought  # a replay
    assert (await try_hold(client, token, v, 300, "O1", "h2"))["userErrors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "member"]}
    ]

    await hold(client, token, v, 300, "O2", "h3", ttlMinutes=1)
    clock.advance(timedelta(minutes=2))  # lapsed; no job ran
    token = await fresh_token(runtime, issuer)
    taken = await try_hold(client, token, w, 200, "O2", "h4")
    assert taken["userErrors"] == [] and taken["hold"]["points"] == 200

    live = await hold(client, token, v, 100, "O3", "h5")
    refused = await post_purchase(client, token, purchase_input(w, "O3"))
    assert refused["userErrors"] == [ANOTHER_MEMBERS]
    assert (await capture(client, token, live["id"], "c5"))["userErrors"] == []
    clock.advance(timedelta(hours=1))  # the hold is done with; the capture keeps O3 V's
    token = await fresh_token(runtime, issuer)
    refused = await post_purchase(client, token, purchase_input(w, "O3"))
    assert refused["userErrors"] == [ANOTHER_MEMBERS]

    assert await balance(client, token, v) == EMPTY | {"available": 900}
    assert await balance(client, token, w) == EMPTY | {"available": 600}  # its hold lapsed too
    await assert_invariants(runtime.mongo)


INVISIBLE_OR_CONTROL = {"ZWSP": "\u200b", "marks": "\u200e\u200f", "ESC": "O\x1b[2J", "tab": "O\t1"}


@pytest.mark.parametrize("text", INVISIBLE_OR_CONTROL)
async def test_an_order_id_or_a_sku_of_nothing_visible_or_with_a_control_character_is_refused(
    client, runtime, clock, issuer, text
):
    """The outside-style run held points for an order id of one zero-width space: an id a till
    means names something visible and holds no control character, whichever write sends it."""
    v, w, token = await two_members(runtime, clock, issuer)
    bad = INVISIBLE_OR_CONTROL[text]
    held = await try_hold(client, token, v, 300, bad, "h1")
    assert held["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "orderId"]}]
    bought = await post_purchase(client, token, purchase_input(w, bad))
    assert [(e["code"], e["field"]) for e in bought["userErrors"]] == [
        ("INVALID_INPUT", ["input", "orderId"])
    ]
    sku = purchase_input(w, "O-sku")
    sku["lines"][0]["sku"] = bad
    bought = await post_purchase(client, token, sku)
    assert [(e["code"], e["field"]) for e in bought["userErrors"]] == [
        ("INVALID_INPUT", ["input", "lines", "0", "sku"])
    ]
    for collection in ("orders", "holds", "ledger"):
        assert await runtime.mongo[collection].count_documents({"member_id": {"$in": [v, w]}}) == (
            1 if collection == "ledger" else 0
        )
