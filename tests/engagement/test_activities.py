"""recordActivity over HTTP: a partner posts what a member did; points with caps per local day and
in total that hold under concurrency, idempotent on the partner's reference."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from app.ledger import verify_balances
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, make_member, member_token
from tests.engagement.api import RECORD, error_codes, make_program, partner_token, record


def outcome(payload: dict) -> str:
    if payload["earn"] is not None:
        assert payload["userErrors"] == []
        return "earned"
    [code] = error_codes(payload)
    return code


async def test_an_activity_earns_its_points_once_per_reference(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock, phone="+8613800138000")
    shop = partner_token(issuer)
    first = await record(client, shop, {"phone": "138 0013 8000"}, "review", "rv-1")
    assert first["earn"]["points"] == 20 and first["earn"]["replayed"] is False
    replay = await record(client, shop, {"id": to_global_id("Member", member_id)}, "review", "rv-1")
    assert replay["earn"] == {**first["earn"], "replayed": True}
    # Suspended since: a retry still gets the first answer; a new reference is refused.
    await runtime.mongo["members"].update_one({"_id": member_id}, {"$set": {"status": "suspended"}})
    late = await record(client, shop, {"phone": "138 0013 8000"}, "review", "rv-1")
    assert late["earn"] == {**first["earn"], "replayed": True}
    assert error_codes(await record(client, shop, {"phone": "13800138000"}, "review", "rv-2")) == [
        "MEMBER_SUSPENDED"
    ]
    await runtime.mongo["members"].update_one({"_id": member_id}, {"$set": {"status": "active"}})
    # Another partner's reference is its own.
    other = await record(
        client,
        partner_token(issuer, "pt_a9900000000000000000"),
        {"phone": "13800138000"},
        "review",
        "rv-1",
    )
    assert other["earn"]["entry"]["id"] != first["earn"]["entry"]["id"]
    conflict = await record(client, shop, {"phone": "13800138000"}, "signup", "rv-1")
    assert error_codes(conflict) == ["IDEMPOTENCY_CONFLICT"]
    account = await runtime.mongo["accounts"].find_one({"_id": member_id})
    assert account["available"] == 40


async def test_twenty_concurrent_posts_against_three_a_day_earn_three(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_no = (
        await runtime.mongo["members"].find_one({"_id": await make_member(runtime, clock)})
    )["member_no"]
    shop = partner_token(issuer)
    payloads = await asyncio.gather(
        *(record(client, shop, {"memberNo": member_no}, "review", f"r{n}") for n in range(20))
    )
    assert Counter(outcome(p) for p in payloads) == {"earned": 3, "ACTIVITY_LIMIT_REACHED": 17}
    assert await runtime.mongo["ledger"].count_documents({"kind": "EARN"}) == 3
    assert await verify_balances(runtime.mongo) == []
    # The next local day three more; then the total of ten stops it for good.
    earned = 3
    for day in range(1, 5):
        clock.advance(timedelta(days=1))
        shop = partner_token(issuer)
        for n in range(4):
            payload = await record(client, shop, {"memberNo": member_no}, "review", f"d{day}-{n}")
            earned += outcome(payload) == "earned"
    assert earned == 10
    last = await record(client, partner_token(issuer), {"memberNo": member_no}, "review", "x")
    assert error_codes(last) == ["ACTIVITY_LIMIT_REACHED"]
    assert "in total" in last["userErrors"][0]["message"]


async def test_refusals_are_typed(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    shop = partner_token(issuer)
    ref = {"id": to_global_id("Member", member_id)}
    assert error_codes(await record(client, shop, ref, "dance", "a")) == ["ACTIVITY_UNKNOWN"]
    assert error_codes(await record(client, shop, {"memberNo": "JF999"}, "review", "b")) == [
        "NOT_FOUND"
    ]
    both = {"memberNo": "JF1", "phone": "13800138000"}
    assert error_codes(await record(client, shop, both, "review", "c")) == ["INVALID_INPUT"]
    assert error_codes(await record(client, shop, ref, "review", "")) == ["INVALID_INPUT"]
    await runtime.mongo["members"].update_one({"_id": member_id}, {"$set": {"status": "suspended"}})
    assert error_codes(await record(client, shop, ref, "review", "d")) == ["MEMBER_SUSPENDED"]
    assert await runtime.mongo["ledger"].count_documents({}) == 0


async def test_only_partners_with_points_earn_may_post(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    variables = {
        "input": {
            "member": {"id": to_global_id("Member", member_id)},
            "activity": "review",
            "reference": "r",
        }
    }
    for token in (member_token(issuer, member_id), partner_token(issuer, scopes=("points:read",))):
        assert codes(await ask(client, RECORD, token, variables)) == ["FORBIDDEN"]
    assert codes(await ask(client, RECORD, None, variables)) == ["UNAUTHENTICATED"]


async def test_a_suspended_partner_awards_no_activity_points(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await runtime.mongo["partners"].update_one(
        {"_id": "pt_5b0900000000000000a1"}, {"$set": {"status": "suspended"}}
    )
    body = await ask(
        client,
        RECORD,
        partner_token(issuer),
        {
            "input": {
                "member": {"id": to_global_id("Member", member)},
                "activity": "review",
                "reference": "s-1",
            }
        },
    )
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
