"""Tiers set by hand over HTTP: a status match holds until its end date whatever the worker's
review finds, earning may still lift the member higher, the points decide again at the end (up or
down), every change is numbered in the member's tier history with its end date and audited once,
a retried request writes nothing more, and bad input is refused before any write."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from app.worker import tiers
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, member_token
from tests.api.test_points_admin import admin
from tests.engagement.api import make_program, partner_token, record
from tests.engagement.conftest import registered_partners  # noqa: F401 (autouse)

SET_TIER = """mutation($i: SetMemberTierInput!) { setMemberTier(input: $i) {
  member { tier { code } } userErrors { code field message } } }"""
ME = """{ me {
  tier { code }
  tierProgress { qualifyingPoints windowDays heldUntil }
  tierHistory(first: 10) { edges { node { from { code } to { code } reason until qualifyingPoints } } }
} }"""
AUDIT = """{ auditLog(first: 20, filter: {action: "member.tier_set"}) {
  edges { node { action before after note } } } }"""
WRITE = ("members:write", "members:read", "audit:read")


def iso(at: Any) -> str:
    return at.isoformat(timespec="milliseconds")


async def set_tier(client, token: str, member_id: str, **given: Any) -> dict[str, Any]:
    inputs = {"memberId": to_global_id("Member", member_id), "reason": "status match", **given}
    return data(await ask(client, SET_TIER, token, {"i": inputs}))["setMemberTier"]


async def test_a_status_match_holds_until_its_end_and_then_the_points_decide(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)  # member 0, silver 100, gold 300; a 30-day window
    member_id = await make_member(runtime, clock)
    operator = admin(issuer, *WRITE)
    until = clock.now() + timedelta(days=60)
    first = await set_tier(
        client, operator, member_id, tier="gold", until=iso(until), idempotencyKey="k1"
    )
    assert first == {"member": {"tier": {"code": "gold"}}, "userErrors": []}
    replay = await set_tier(
        client, operator, member_id, tier="gold", until=iso(until), idempotencyKey="k1"
    )
    assert replay == first
    other = await set_tier(
        client, operator, member_id, tier="silver", until=iso(until), idempotencyKey="k1"
    )
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]

    me = data(await ask(client, ME, member_token(issuer, member_id)))["me"]
    assert me["tier"] == {"code": "gold"}
    assert me["tierProgress"] == {"qualifyingPoints": 0, "windowDays": 30, "heldUntil": iso(until)}
    [change] = [edge["node"] for edge in me["tierHistory"]["edges"]]
    assert change == {
        "from": {"code": "member"},
        "to": {"code": "gold"},
        "reason": "MANUAL",
        "until": iso(until),
        "qualifyingPoints": 0,
    }
    audit = data(await ask(client, AUDIT, operator))["auditLog"]["edges"]
    assert [e["node"]["note"] for e in audit] == ["status match"]  # once, whatever the retries

    # The worker reviews every day meanwhile: no points, yet the member stays gold.
    for _ in range(59):
        clock.advance(timedelta(days=1))
        await tiers(runtime.mongo, clock)
    assert data(await ask(client, ME, member_token(issuer, member_id)))["me"]["tier"] == {
        "code": "gold"
    }

    # Earning lifts nothing above gold; 120 qualifying points hold silver after the end.
    ref = {"id": to_global_id("Member", member_id)}
    await record(client, partner_token(issuer), ref, "signup", "s1")  # 100
    await record(client, partner_token(issuer), ref, "review", "r1")  # 20
    clock.set(until)
    await tiers(runtime.mongo, clock)
    me = data(await ask(client, ME, member_token(issuer, member_id)))["me"]
    assert me["tier"] == {"code": "silver"}
    assert me["tierProgress"]["heldUntil"] is None
    ended = me["tierHistory"]["edges"][0]["node"]
    assert ended == {
        "from": {"code": "gold"},
        "to": {"code": "silver"},
        "reason": "OVERRIDE_ENDED",
        "until": None,
        "qualifyingPoints": 120,
    }
    member = await runtime.mongo["members"].find_one({"_id": member_id})
    assert member is not None and "tier_override" not in member


async def test_a_member_set_below_their_points_goes_up_at_the_end_and_earning_lifts_meanwhile(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    ref = {"id": to_global_id("Member", member_id)}
    operator = admin(issuer, *WRITE)
    until = clock.now() + timedelta(days=5)
    await set_tier(client, operator, member_id, tier="member", until=iso(until), idempotencyKey="a")
    await record(client, partner_token(issuer), ref, "signup", "s1")  # 100: silver at the earn
    assert data(await ask(client, ME, member_token(issuer, member_id)))["me"]["tier"] == {
        "code": "silver"
    }
    await set_tier(client, operator, member_id, tier="member", until=iso(until), idempotencyKey="b")
    assert data(await ask(client, ME, member_token(issuer, member_id)))["me"]["tier"] == {
        "code": "member"
    }
    clock.set(until)
    await tiers(runtime.mongo, clock)
    me = data(await ask(client, ME, member_token(issuer, member_id)))["me"]
    assert me["tier"] == {"code": "silver"}  # the points decide again, upwards too
    assert me["tierHistory"]["edges"][0]["node"]["reason"] == "OVERRIDE_ENDED"


async def test_bad_requests_are_refused_by_field_before_any_write(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    operator = admin(issuer, *WRITE)
    soon = iso(clock.now() + timedelta(days=1))
    for given, field in [
        ({"tier": "platinum", "until": soon}, "tier"),
        ({"tier": "gold", "until": iso(clock.now() - timedelta(seconds=1))}, "until"),
        ({"tier": "gold", "until": iso(clock.now() + timedelta(days=3 * 366 + 1))}, "until"),
        ({"tier": "gold", "until": soon, "reason": "  "}, "reason"),
        ({"tier": "gold", "until": soon, "reason": "x" * 501}, "reason"),
        ({"tier": "gold", "until": soon, "idempotencyKey": "k" * 1000}, "idempotencyKey"),
    ]:
        refused = await set_tier(client, operator, member_id, **{"idempotencyKey": "k", **given})
        [error] = refused["userErrors"]
        assert (error["code"], error["field"][-1]) == ("INVALID_INPUT", field), refused
    reader = admin(issuer, "members:read")
    denied = await ask(
        client,
        SET_TIER,
        reader,
        {
            "i": {
                "memberId": to_global_id("Member", member_id),
                "tier": "gold",
                "until": soon,
                "reason": "r",
                "idempotencyKey": "z",
            }
        },
    )
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    assert await runtime.mongo["tier_changes"].count_documents({}) == 0
    assert (await runtime.mongo["members"].find_one({"_id": member_id}))["tier"] == "member"


async def test_concurrent_retries_of_one_request_write_one_change(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    operator = admin(issuer, *WRITE)
    until = iso(clock.now() + timedelta(days=30))
    results = await asyncio.gather(
        *(
            set_tier(client, operator, member_id, tier="gold", until=until, idempotencyKey="same")
            for _ in range(8)
        )
    )
    assert all(r == {"member": {"tier": {"code": "gold"}}, "userErrors": []} for r in results), (
        results
    )
    assert await runtime.mongo["tier_changes"].count_documents({"member_id": member_id}) == 1
    audit = await runtime.mongo["audit"].count_documents({"action": "member.tier_set"})
    assert audit == 1
