"""Referrals over HTTP: a member's code and link, a sign-up that names it (a bad code refused
before anything is written), both rewarded once the referred member's first purchase matured, a
refund within the window cancelling it, the referrer's monthly limit, a shared device refused as a
ring, a settlement run twice paying once, and the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.ledger import get_balance, verify_balances
from app.program import Referrals, current_program
from app.referrals import settle_referrals
from tests.api.gql import ask, data, make_member, member_token
from tests.api.test_points_admin import admin
from tests.api.test_sign_in import SIGN_UP
from tests.partners.api import (
    PROGRAM,
    make_program,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
)

REFERRAL = "{ me { referral { code link signedUp rewarded pointsEarned } } }"
REPORT = """query($m: ID) { referralReport(memberId: $m) {
  invited signedUp pending rewarded limited cancelled refused pointsPaid } }"""
REGISTER = """mutation($i: RegisterPushTokenInput!) { registerPushToken(input: $i) {
  userErrors { code } } }"""

RULES = Referrals(
    referrer_points=500,
    referred_points=200,
    min_spend=Decimal(50),
    max_per_month=1,
    link="https://shop.example/join?ref={code}",
)


async def sign_up(client, phone: str, code: str | None) -> dict[str, Any]:
    given = {"phone": phone, "password": "correct horse", "name": "Friend", "referralCode": code}
    return (await ask(client, SIGN_UP, variables={"input": given}))["data"]["signUp"]


def gid_raw(member: dict[str, Any]) -> str:
    from graphql_schema.ids import from_global_id

    return from_global_id(member["id"], "Member")[1]


async def settle(runtime, clock) -> None:
    program = await current_program(runtime.mongo)
    await settle_referrals(runtime.mongo, clock, program)


async def test_a_referral_pays_both_once_the_first_purchase_matured_and_only_then(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 3, 2, 2, tzinfo=UTC))
    await make_program(
        runtime, clock, PROGRAM.model_copy(update={"referrals": RULES, "return_window_days": 7})
    )
    referrer = await make_member(runtime, clock, name="Li Lei")
    mine = data(await ask(client, REFERRAL, member_token(issuer, referrer)))["me"]["referral"]
    code = mine["code"]
    assert len(code) == 8 and mine["link"] == f"https://shop.example/join?ref={code}"
    again = data(await ask(client, REFERRAL, member_token(issuer, referrer)))["me"]["referral"]
    assert again["code"] == code  # made once, then kept

    # A bad code is refused by field, and nothing is written: no member, no referral.
    for bad in ("NOPE", "ZZZZZZZZ", "x" * 200):
        refused = await sign_up(client, "138 0013 8100", bad)
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID_INPUT", ["input", "referralCode"])
        ], refused
    assert await runtime.mongo["members"].count_documents({"phone": "+8613800138100"}) == 0

    friend = gid_raw((await sign_up(client, "138 0013 8101", code.lower()))["member"])
    token = await partner_token(runtime, clock, issuer)
    small = await post_purchase(
        client, token, purchase_input(friend, "o-small", at="2026-03-02T01:00:00Z", amounts=("20",))
    )
    assert small["purchase"]["total"] == 20  # under the minimum spend: does not qualify
    await post_purchase(
        client, token, purchase_input(friend, "o-1", at="2026-03-02T01:30:00Z", amounts=("100",))
    )
    await settle(runtime, clock)  # not matured yet: nothing paid
    assert (await get_balance(runtime.mongo, referrer, clock.now())).available == 0
    report = data(await ask(client, REPORT, admin(issuer, "reports:read")))["referralReport"]
    assert (report["signedUp"], report["pending"], report["rewarded"]) == (1, 1, 0)

    clock.advance(timedelta(days=8))
    await settle(runtime, clock)
    await settle(runtime, clock)  # run again: pays nothing more
    assert (await get_balance(runtime.mongo, referrer, clock.now())).available == 500
    assert (await get_balance(runtime.mongo, friend, clock.now())).available == 20 + 100 + 200
    assert await verify_balances(runtime.mongo) == []
    mine = data(await ask(client, REFERRAL, member_token(issuer, referrer)))["me"]["referral"]
    assert (mine["signedUp"], mine["rewarded"], mine["pointsEarned"]) == (1, 1, 700)


async def test_a_refund_cancels_a_limit_caps_and_a_shared_device_refuses(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 3, 2, 2, tzinfo=UTC))
    await make_program(
        runtime, clock, PROGRAM.model_copy(update={"referrals": RULES, "return_window_days": 7})
    )
    referrer = await make_member(runtime, clock, name="Li Lei")
    code = data(await ask(client, REFERRAL, member_token(issuer, referrer)))["me"]["referral"][
        "code"
    ]
    friends = [
        gid_raw((await sign_up(client, f"138 0013 82{n:02d}", code))["member"]) for n in range(4)
    ]
    # Friend 3 and the referrer once held the same phone's push token: a ring.
    device = {"platform": "IOS", "token": "f" * 64}
    for holder in (referrer, friends[3]):
        registered = data(await ask(client, REGISTER, member_token(issuer, holder), {"i": device}))
        assert registered["registerPushToken"]["userErrors"] == []
    token = await partner_token(runtime, clock, issuer)
    for n, friend in enumerate(friends):
        await post_purchase(
            client,
            token,
            purchase_input(friend, f"o-{n}", at="2026-03-02T01:00:00Z", amounts=("100",)),
        )
    refund = {"orderId": "o-0", "refundId": "r-0", "lines": [{"lineId": "L1", "quantity": 1}]}
    assert (await post_refund(client, token, refund))["userErrors"] == []
    clock.advance(timedelta(days=8))
    await settle(runtime, clock)
    statuses = {doc["_id"]: doc["status"] async for doc in runtime.mongo["referrals"].find()}
    assert statuses[friends[0]] == "cancelled"
    assert statuses[friends[3]] == "refused"
    assert sorted([statuses[friends[1]], statuses[friends[2]]]) == ["limited", "rewarded"]
    assert (await get_balance(runtime.mongo, referrer, clock.now())).available == 500  # one a month
    report = data(await ask(client, REPORT, admin(issuer, "reports:read")))["referralReport"]
    assert report == {
        "invited": 1,
        "signedUp": 4,
        "pending": 0,
        "rewarded": 1,
        "limited": 1,
        "cancelled": 1,
        "refused": 1,
        "pointsPaid": 500 + 200 + 200,
    }
    assert await verify_balances(runtime.mongo) == []


async def test_a_program_without_referrals_refuses_a_code_and_shows_none(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    assert data(await ask(client, REFERRAL, member_token(issuer, member)))["me"]["referral"] is None
    refused = await sign_up(client, "138 0013 8301", "ABCDEFGH")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID_INPUT", ["input", "referralCode"])
    ]
