"""recordPurchase over HTTP: the breakdown into the ledger, idempotent on (partner, order id)."""

from __future__ import annotations

import asyncio

from app.auth import PrincipalKind
from app.members import MemberStatus
from tests.api.gql import ask, make_member
from tests.partners.api import (
    PROGRAM,
    balance,
    make_program,
    partner_token,
    post_purchase,
    purchase_input,
)


async def test_a_purchase_earns_by_line_and_the_member_sees_it(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    result = await post_purchase(
        client, token, purchase_input(member, "o-1", amounts=("100.50", "20"))
    )
    assert result["userErrors"] == []
    purchase = result["purchase"]
    assert purchase["total"] == 120
    assert purchase["status"] == "AVAILABLE"
    assert {(row["lineId"], row["rule"], row["points"]) for row in purchase["breakdown"]} == {
        ("L1", "base", 100),
        ("L2", "base", 20),
    }
    assert purchase["entry"]["kind"] == "EARN" and purchase["entry"]["points"] == 120
    assert (await balance(client, token, member))["available"] == 120


async def test_the_same_order_again_returns_the_first_result_and_earns_nothing_more(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    first = await post_purchase(client, token, purchase_input(member, "o-1"))
    again = await post_purchase(client, token, purchase_input(member, "o-1"))
    assert again == first
    assert (await balance(client, token, member))["available"] == 100


async def test_the_same_order_id_with_another_payload_is_a_conflict(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    await post_purchase(client, token, purchase_input(member, "o-1"))
    other = await post_purchase(client, token, purchase_input(member, "o-1", amounts=("99",)))
    assert other["purchase"] is None
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    assert (await balance(client, token, member))["available"] == 100


async def test_two_tills_posting_one_order_at_once_earn_it_once(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    results = await asyncio.gather(
        *(post_purchase(client, token, purchase_input(member, "o-1")) for _ in range(4))
    )
    assert all(result == results[0] for result in results)
    assert results[0]["purchase"]["total"] == 100
    assert (await balance(client, token, member))["available"] == 100


async def test_each_partner_has_its_own_order_ids(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    one = await partner_token(runtime, clock, issuer, name="Shop A")
    two = await partner_token(runtime, clock, issuer, name="Shop B")
    await post_purchase(client, one, purchase_input(member, "o-1"))
    other = await post_purchase(client, two, purchase_input(member, "o-1", amounts=("50",)))
    assert other["purchase"]["total"] == 50
    assert (await balance(client, one, member))["available"] == 150


async def test_a_suspended_member_earns_nothing(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await runtime.mongo["members"].update_one(
        {"_id": member}, {"$set": {"status": MemberStatus.SUSPENDED.value}}
    )
    token = await partner_token(runtime, clock, issuer)
    result = await post_purchase(client, token, purchase_input(member, "o-1"))
    assert result["purchase"] is None
    assert result["userErrors"][0]["code"] == "MEMBER_SUSPENDED"


async def test_points_stay_pending_through_the_return_window_counted_from_the_purchase(
    client, runtime, clock, issuer
):
    program = PROGRAM.model_copy(update={"return_window_days": 7})
    await make_program(runtime, clock, program)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    result = await post_purchase(
        client, token, purchase_input(member, "o-1", at="2026-01-13T08:00:00Z")
    )
    assert result["purchase"]["status"] == "PENDING"
    assert result["purchase"]["availableAt"] == "2026-01-20T08:00:00.000+00:00"
    assert (await balance(client, token, member))["pending"] == 100


async def test_expiry_counts_from_when_the_purchase_happened(client, runtime, clock, issuer):
    from app.ledger import ExpiryPolicySet, Rolling

    program = PROGRAM.model_copy(update={"expiry": ExpiryPolicySet(default=Rolling(days=10))})
    await make_program(runtime, clock, program)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    await post_purchase(client, token, purchase_input(member, "o-1", at="2026-01-10T08:00:00Z"))
    lot = await runtime.mongo["lots"].find_one({"member_id": member})
    assert lot["expires_at"].isoformat() == "2026-01-20T08:00:00+00:00"


async def test_occurred_at_beyond_the_backdate_limit_or_in_the_future_is_refused(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    for at in ("2025-12-01T00:00:00Z", "2026-01-15T10:00:00Z"):
        result = await post_purchase(client, token, purchase_input(member, f"o-{at}", at=at))
        assert result["userErrors"][0]["field"] == ["input", "occurredAt"]
    assert (await balance(client, token, member))["available"] == 0


async def test_a_member_named_by_member_number_or_phone(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock, phone="+8613800138000")
    number = (await runtime.mongo["members"].find_one({"_id": member}))["member_no"]
    token = await partner_token(runtime, clock, issuer)
    one = purchase_input(member, "o-1") | {"member": {"memberNo": number}}
    two = purchase_input(member, "o-2") | {"member": {"phone": "138 0013 8000"}}
    both = purchase_input(member, "o-3") | {"member": {"memberNo": number, "phone": "138"}}
    assert (await post_purchase(client, token, one))["purchase"]["total"] == 100
    assert (await post_purchase(client, token, two))["purchase"]["total"] == 100
    assert (await post_purchase(client, token, both))["userErrors"][0]["code"] == "INVALID_INPUT"
    body = await ask(client, "{ me { id } }", token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_daily_cap_counts_what_the_member_earned_that_local_day(
    client, runtime, clock, issuer
):
    from app.program.models import Caps, EarnRules

    rules = EarnRules(caps=Caps(per_member_per_day=150))
    await make_program(runtime, clock, PROGRAM.model_copy(update={"earn": rules}))
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    totals = []
    # 08:00Z and 09:00Z are one day in Shanghai; 2026-01-14T17:00Z is the day before there.
    for n, at in enumerate(
        ("2026-01-15T08:00:00Z", "2026-01-15T09:00:00Z", "2026-01-14T15:00:00Z")
    ):
        result = await post_purchase(client, token, purchase_input(member, f"o-{n}", at=at))
        totals.append(result["purchase"]["total"])
    assert totals == [100, 50, 100]


async def test_the_birthday_bonus_is_given_once_a_year(client, runtime, clock, issuer):
    from datetime import date

    from app.program.models import Birthday, EarnRules

    rules = EarnRules(birthday=Birthday(window="month", bonus_points=88))
    await make_program(runtime, clock, PROGRAM.model_copy(update={"earn": rules}))
    member = await make_member(runtime, clock)
    await runtime.mongo["members"].update_one(
        {"_id": member}, {"$set": {"birthday": date(1990, 1, 20).isoformat()}}
    )
    token = await partner_token(runtime, clock, issuer)
    first = await post_purchase(client, token, purchase_input(member, "o-1"))
    second = await post_purchase(client, token, purchase_input(member, "o-2"))
    assert (first["purchase"]["total"], second["purchase"]["total"]) == (188, 100)


async def test_a_retry_after_the_member_was_suspended_or_days_later_gets_the_first_result(
    client, runtime, clock, issuer
):
    from datetime import timedelta

    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    first = await post_purchase(client, token, purchase_input(member, "o-1"))
    await runtime.mongo["members"].update_one(
        {"_id": member}, {"$set": {"status": MemberStatus.SUSPENDED.value}}
    )
    clock.advance(timedelta(days=40))
    partner_id = (await runtime.mongo["partners"].find_one({}))["_id"]
    token = issuer.mint(PrincipalKind.PARTNER, partner_id, scopes=["points:earn", "points:read"])
    assert await post_purchase(client, token, purchase_input(member, "o-1")) == first
    other = await post_purchase(client, token, purchase_input(member, "o-2"))
    assert other["userErrors"][0]["field"] == ["input", "occurredAt"]


async def test_an_amount_is_plain_ascii_digits_or_refused_with_its_field(
    client, runtime, clock, issuer
):
    """Decimal() reads "1_000" as 1000, " 10" as 10 and Arabic-Indic "٣" as 3: a till's typo or
    another script would earn points the request does not show. Only plain digits pass."""
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    for n, amount in enumerate(
        [
            "1_000",
            " 10",
            "10 ",
            "٣",
            "1e3",
            "+5",
            "-0",
            "NaN",
            "Infinity",
            ".5",
            "5.",
            "0x10",
            "1.23456",
            "10000000000000",
        ]
    ):
        result = await post_purchase(
            client, token, purchase_input(member, f"bad-{n}", amounts=(amount,))
        )
        assert result["purchase"] is None, amount
        assert result["userErrors"] == [
            {
                "code": "INVALID_INPUT",
                "message": "an amount is a decimal string from 0 to 10^12 with at most 4 decimals",
                "field": ["input", "lines", "0", "amount"],
            }
        ], amount
    for n, (amount, points) in enumerate([("0", 0), ("0.5", 0), ("12.3456", 12), ("1000", 1000)]):
        result = await post_purchase(
            client, token, purchase_input(member, f"ok-{n}", amounts=(amount,))
        )
        assert result["purchase"]["total"] == points, amount
    assert (await balance(client, token, member))["available"] == 1012
