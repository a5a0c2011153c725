"""`me` over HTTP with real tokens: profile, tier, balance, expiring points, history, updateProfile."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.ledger import BreakdownLine, Rolling, spend
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, earn_points, make_member, make_program, member_token

PROFILE = "{ me { id memberNo name phone email birthday joinedAt tier { code name threshold } } }"
BALANCE = """{ me { balance { available pending held lifetimeEarned
  nextExpiry { points expiresAt } } } }"""
UPDATE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    member { name email birthday }
    userErrors { __typename code message field }
  }
}"""


@pytest.fixture
async def member(runtime, clock) -> str:
    await make_program(runtime, clock)
    return await make_member(runtime, clock, name="Li Lei", phone="+8613800000001")


@pytest.fixture
def token(issuer, member) -> str:
    return member_token(issuer, member)


async def test_me_reads_the_profile_and_tier(client, clock, member, token) -> None:
    me = data(await ask(client, PROFILE, token))["me"]
    assert me == {
        "id": to_global_id("Member", member),
        "memberNo": me["memberNo"],
        "name": "Li Lei",
        "phone": "+8613800000001",
        "email": None,
        "birthday": None,
        "joinedAt": clock.now().isoformat(timespec="milliseconds"),
        "tier": {"code": "member", "name": "Member", "threshold": 0},
    }
    assert member not in me["id"]  # opaque, never the raw id


async def test_a_new_member_has_a_zero_balance(client, token) -> None:
    balance = data(await ask(client, BALANCE, token))["me"]["balance"]
    assert balance == {
        "available": 0,
        "pending": 0,
        "held": 0,
        "lifetimeEarned": 0,
        "nextExpiry": None,
    }


async def test_balance_shows_available_pending_and_the_next_expiry(
    client, runtime, clock, member, token
) -> None:
    await earn_points(runtime, clock, member, 500, "e1", policy=Rolling(days=10))
    await earn_points(runtime, clock, member, 300, "e2", policy=Rolling(days=40))
    await earn_points(
        runtime, clock, member, 200, "e3", available_at=clock.now() + timedelta(days=7)
    )
    balance = data(await ask(client, BALANCE, token))["me"]["balance"]
    assert balance == {
        "available": 800,
        "pending": 200,
        "held": 0,
        "lifetimeEarned": 1000,
        "nextExpiry": {
            "points": 500,
            "expiresAt": (clock.now() + timedelta(days=10)).isoformat(timespec="milliseconds"),
        },
    }


async def test_expiring_points_are_grouped_by_instant_inside_the_window(
    client, runtime, clock, member, token
) -> None:
    await earn_points(runtime, clock, member, 100, "a", policy=Rolling(days=5))
    await earn_points(runtime, clock, member, 50, "b", policy=Rolling(days=5))
    await earn_points(runtime, clock, member, 70, "c", policy=Rolling(days=20))
    await earn_points(runtime, clock, member, 900, "d", policy=Rolling(days=90))
    await earn_points(runtime, clock, member, 40, "e")  # never expires
    await spend(runtime.mongo, clock, member_id=member, points=30, idempotency_key="s")
    query = "{ me { soon: expiringPoints { points expiresAt } week: expiringPoints(withinDays: 7) { points } } }"
    me = data(await ask(client, query, token))["me"]
    in_5 = (clock.now() + timedelta(days=5)).isoformat(timespec="milliseconds")
    in_20 = (clock.now() + timedelta(days=20)).isoformat(timespec="milliseconds")
    assert me["soon"] == [{"points": 120, "expiresAt": in_5}, {"points": 70, "expiresAt": in_20}]
    assert me["week"] == [{"points": 120}]


async def test_history_lists_entries_newest_first_with_the_earn_breakdown(
    client, runtime, clock, member, token
) -> None:
    breakdown = [
        BreakdownLine("base", "1 point per ¥1", 100),
        BreakdownLine("campaign:double-11", "Double 11 bonus", 100),
    ]
    await earn_points(
        runtime,
        clock,
        member,
        200,
        "order-1",
        reference="order-1",
        breakdown=breakdown,
        description="Order order-1",
    )
    clock.advance(timedelta(minutes=1))
    await spend(runtime.mongo, clock, member_id=member, points=50, idempotency_key="s1")
    query = """{ me { history(first: 10) { edges { cursor node { id kind points balanceAfter
      occurredAt description reference breakdown { rule description points } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""
    history = data(await ask(client, query, token))["me"]["history"]
    nodes = [edge["node"] for edge in history["edges"]]
    assert [(n["kind"], n["points"], n["balanceAfter"]) for n in nodes] == [
        ("REDEEM", -50, 150),
        ("EARN", 200, 200),
    ]
    assert nodes[1]["reference"] == "order-1"
    assert nodes[1]["description"] == "Order order-1"
    assert nodes[1]["breakdown"] == [
        {"rule": "base", "description": "1 point per ¥1", "points": 100},
        {"rule": "campaign:double-11", "description": "Double 11 bonus", "points": 100},
    ]
    assert nodes[0]["breakdown"] == []
    assert history["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": history["edges"][0]["cursor"],
        "endCursor": history["edges"][1]["cursor"],
    }


async def test_history_filters_by_kind(client, runtime, clock, member, token) -> None:
    await earn_points(runtime, clock, member, 100, "e1")
    await spend(runtime.mongo, clock, member_id=member, points=10, idempotency_key="s1")
    await earn_points(runtime, clock, member, 100, "e2")
    query = "{ me { history(first: 10, kinds: [REDEEM]) { edges { node { kind points } } } } }"
    edges = data(await ask(client, query, token))["me"]["history"]["edges"]
    assert [edge["node"] for edge in edges] == [{"kind": "REDEEM", "points": -10}]


async def test_first_is_capped_at_100_and_a_bad_cursor_is_bad_input(client, token) -> None:
    too_many = await ask(client, "{ me { history(first: 101) { edges { cursor } } } }", token)
    assert codes(too_many) == ["BAD_USER_INPUT"]
    bad = await ask(
        client, '{ me { history(first: 1, after: "bm9wZQ") { edges { cursor } } } }', token
    )
    assert codes(bad) == ["BAD_USER_INPUT"]


async def test_update_profile_changes_name_email_and_birthday(
    client, runtime, member, token
) -> None:
    variables = {
        "input": {"name": "  Li   Lei  ", "email": "Li.Lei@Example.COM", "birthday": "1990-05-17"}
    }
    payload = data(await ask(client, UPDATE, token, variables))["updateProfile"]
    assert payload == {
        "member": {"name": "Li Lei", "email": "Li.Lei@example.com", "birthday": "1990-05-17"},
        "userErrors": [],
    }
    # Left out: unchanged. Explicit null: cleared.
    payload = data(await ask(client, UPDATE, token, {"input": {"email": None}}))["updateProfile"]
    assert payload["member"] == {"name": "Li Lei", "email": None, "birthday": "1990-05-17"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"birthday": "2026-01-16"}, "birthday"),  # tomorrow
        ({"birthday": "1899-12-31"}, "birthday"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 65}, "name"),
    ],
)
async def test_update_profile_refuses_invalid_fields(
    client, runtime, member, token, change, field
) -> None:
    payload = data(await ask(client, UPDATE, token, {"input": change}))["updateProfile"]
    assert payload["member"] is None
    [error] = payload["userErrors"]
    assert (error["__typename"], error["code"], error["field"]) == (
        "GenericUserError",
        "INVALID_INPUT",
        ["input", field],
    )
    stored = await runtime.mongo["members"].find_one({"_id": member})
    assert stored["name"] == "Li Lei" and stored.get("email") is None


async def test_mutations_are_rate_limited_per_member(client, issuer, runtime, clock, member, token):
    other = member_token(issuer, await make_member(runtime, clock, name="Han Meimei"))
    for _ in range(60):
        assert data(await ask(client, UPDATE, token, {"input": {"name": "Li Lei"}}))
    limited = await ask(client, UPDATE, token, {"input": {"name": "Li Lei"}})
    assert codes(limited) == ["RATE_LIMITED"]
    assert limited["errors"][0]["extensions"]["retryAfterSeconds"] == 60
    assert data(await ask(client, UPDATE, other, {"input": {"name": "Han"}}))  # not shared
    clock.advance(timedelta(minutes=1))
    assert data(await ask(client, UPDATE, token, {"input": {"name": "Li Lei"}}))
