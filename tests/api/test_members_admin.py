"""Operators manage members over HTTP: search, create, update, suspend, reactivate, erase, export;
scopes enforced, every write audited once, and a suspension felt everywhere the member acts."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import get_balance, verify_balances
from app.rewards import Reward
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import (
    ask,
    codes,
    data,
    earn_points,
    make_member,
    make_program,
    make_reward,
    member_token,
)
from tests.api.test_sign_in import LOG_IN, REFRESH, sign_up
from tests.api.test_websocket_lifetime import server  # noqa: F401  (a uvicorn-served app)

ADMIN = ["members:read", "members:write", "audit:read"]
RESULT = "member { id memberNo name phone email birthday status tier { code } } userErrors { code field }"
CREATE = f"mutation($i: CreateMemberInput!) {{ createMember(input: $i) {{ {RESULT} }} }}"
UPDATE = f"mutation($i: UpdateMemberInput!) {{ updateMember(input: $i) {{ {RESULT} }} }}"
SUSPEND = f"mutation($i: MemberStatusInput!) {{ suspendMember(input: $i) {{ {RESULT} }} }}"
REACTIVATE = f"mutation($i: MemberStatusInput!) {{ reactivateMember(input: $i) {{ {RESULT} }} }}"
ERASE = f"mutation($i: MemberStatusInput!) {{ eraseMember(input: $i) {{ {RESULT} }} }}"
EXPORT = "mutation($i: ExportMemberInput!) { exportMember(input: $i) { data userErrors { code } } }"
SEARCH = """query($s: String!, $first: Int!, $after: String) { members(search: $s, first: $first,
  after: $after) { edges { node { name memberNo } } pageInfo { hasNextPage endCursor } } }"""
REDEEM = """mutation($i: RedeemRewardInput!) { redeemReward(input: $i) {
  redemption { id } userErrors { code } } }"""
AUDIT = """query($f: AuditLogFilter) { auditLog(first: 50, filter: $f) {
  edges { node { action actor before after note } } } }"""


def gid(member_id: str) -> str:
    return to_global_id("Member", member_id)


async def _do(client: httpx.AsyncClient, query: str, token: str, **i: Any) -> dict[str, Any]:
    body = data(await ask(client, query, token, {"i": i}))
    payload: dict[str, Any] = next(iter(body.values()))
    return payload


async def _audit(client: httpx.AsyncClient, token: str, target: str) -> list[dict[str, Any]]:
    log = data(await ask(client, AUDIT, token, {"f": {"target": target}}))["auditLog"]
    return [edge["node"] for edge in log["edges"]]


async def test_search_by_member_number_phone_or_name_prefix_in_pages(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    for name, phone in [
        ("Wang Bo", "13800000001"),
        ("Wang Ai", None),
        ("Wang Cai", None),
        ("Li Lei", "+8613800000002"),
    ]:
        await make_member(runtime, clock, name=name, phone=phone and f"+86{phone[-11:]}")

    async def names(search: str, first: int = 10, after: str | None = None) -> Any:
        found = data(
            await ask(client, SEARCH, admin, {"s": search, "first": first, "after": after})
        )
        return found["members"]

    assert [e["node"]["name"] for e in (await names("138 0000 0001"))["edges"]] == ["Wang Bo"]
    li = (await names("+86 138-0000-0002"))["edges"][0]["node"]
    assert li["name"] == "Li Lei"
    assert [e["node"]["name"] for e in (await names(li["memberNo"].lower()))["edges"]] == ["Li Lei"]
    first = await names("Wang", first=2)
    assert [e["node"]["name"] for e in first["edges"]] == ["Wang Ai", "Wang Bo"]
    rest = await names("Wang", first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["name"] for e in rest["edges"]] == ["Wang Cai"]
    assert not rest["pageInfo"]["hasNextPage"]
    assert (await names("Zhao"))["edges"] == []
    for bad in ("", " ", "x" * 65):
        assert codes(await ask(client, SEARCH, admin, {"s": bad, "first": 5})) == ["BAD_USER_INPUT"]


async def test_create_is_idempotent_by_key_and_validated_and_update_is_audited(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    new = {
        "name": " Zhang  San ",
        "phone": "139 0000 0003",
        "email": "ZS@Example.com",
        "idempotencyKey": "c1",
    }
    made = await _do(client, CREATE, admin, **new)
    again = await _do(client, CREATE, admin, **new)
    assert made["userErrors"] == [] and again == made
    member = made["member"]
    assert (member["name"], member["phone"], member["email"], member["status"]) == (
        "Zhang San",
        "+8613900000003",
        "ZS@example.com",
        "ACTIVE",
    )
    other = await _do(client, CREATE, admin, **{**new, "name": "Other"})
    assert other["userErrors"] == [
        {"code": "IDEMPOTENCY_CONFLICT", "field": ["input", "idempotencyKey"]}
    ]
    taken = await _do(client, CREATE, admin, **{**new, "idempotencyKey": "c2"})
    assert taken["userErrors"] == [{"code": "PHONE_TAKEN", "field": ["input", "phone"]}]
    bad = await _do(client, CREATE, admin, name="X", email="nope", idempotencyKey="c3")
    assert bad["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "email"]}]

    clock.advance(timedelta(minutes=1))  # the log is newest first by time
    changed = await _do(
        client,
        UPDATE,
        admin,
        memberId=member["id"],
        name="Zhang Sanfeng",
        email=None,
        birthday="1990-05-01",
    )
    assert (changed["member"]["name"], changed["member"]["email"]) == ("Zhang Sanfeng", None)
    await _do(client, UPDATE, admin, memberId=member["id"], name="Zhang Sanfeng")  # no change
    raw = member["id"]
    entries = await _audit(client, admin, f"member:{_raw(raw)}")
    assert [e["action"] for e in entries] == ["member.update", "member.create"]
    assert entries[0]["before"] == {
        "name": "Zhang San",
        "email": "ZS@example.com",
        "birthday": None,
    }
    assert entries[0]["after"] == {"name": "Zhang Sanfeng", "email": None, "birthday": "1990-05-01"}


def _raw(global_id: str) -> str:
    from graphql_schema.ids import from_global_id

    return from_global_id(global_id, "Member")[1]


async def test_a_suspended_member_cannot_sign_in_refresh_or_redeem_until_reactivated(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    signed = await sign_up(client)
    member_id = _raw(signed["member"]["id"])
    await earn_points(runtime, clock, member_id, 500, "e1")
    await make_reward(runtime, Reward(id="r_tea", name="Tea", points_price=100))
    access, refresh = signed["session"]["accessToken"], signed["session"]["refreshToken"]
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)

    for _ in range(2):  # the second suspension changes and records nothing
        done = await _do(client, SUSPEND, admin, memberId=gid(member_id), reason="chargebacks")
        assert done["member"]["status"] == "SUSPENDED"
    redeem = {"rewardId": to_global_id("Reward", "r_tea"), "idempotencyKey": "r1"}
    # the access token issued before the suspension is refused for everything, reads included
    assert codes(await ask(client, REDEEM, access, {"i": redeem})) == ["UNAUTHENTICATED"]
    assert codes(await ask(client, "{ me { balance { available } } }", access)) == [
        "UNAUTHENTICATED"
    ]
    # a token minted later (an operator's tool) still cannot spend: the account is frozen
    clock.advance(timedelta(seconds=1))
    later = issuer.mint(PrincipalKind.MEMBER, member_id)
    refused = data(await ask(client, REDEEM, later, {"i": redeem}))["redeemReward"]
    assert refused["userErrors"] == [{"code": "MEMBER_SUSPENDED"}]
    renewed = data(await ask(client, REFRESH, variables={"token": refresh}))["refreshSession"]
    assert renewed["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    login = {"phone": "13800138001", "password": "correct horse"}
    assert data(await ask(client, LOG_IN, variables={"input": login}))["logIn"]["session"] is None
    assert (await get_balance(runtime.mongo, member_id, clock.now())).available == 500

    clock.advance(timedelta(minutes=1))
    back = await _do(client, REACTIVATE, admin, memberId=gid(member_id), reason="resolved")
    assert back["member"]["status"] == "ACTIVE"
    fresh = data(await ask(client, LOG_IN, variables={"input": login}))["logIn"]["session"]
    took = data(await ask(client, REDEEM, fresh["accessToken"], {"i": redeem}))["redeemReward"]
    assert took["userErrors"] == [] and took["redemption"]["id"]
    actions = [e["action"] for e in await _audit(client, admin, f"member:{member_id}")]
    assert actions == ["member.reactivate", "member.suspend"]


async def test_suspending_closes_the_members_open_subscriptions(server, clock) -> None:  # noqa: F811
    url, runtime = server
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    token = runtime.issuer.mint(PrincipalKind.MEMBER, member_id)
    admin = runtime.issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = "subscription { expiryWarnings { points } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        base = url.replace("ws://", "http://")
        async with httpx.AsyncClient() as http:
            variables = {"i": {"memberId": gid(member_id), "reason": "fraud"}}
            answer = await http.post(
                base,
                json={"query": SUSPEND, "variables": variables},
                headers={"authorization": f"Bearer {admin}"},
            )
            assert answer.json()["data"]["suspendMember"]["member"]["status"] == "SUSPENDED"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # reconnecting with the same token is refused before any subscription starts
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_erasure_keeps_the_ledger_whole_and_export_returns_what_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    signed = await sign_up(client)
    member_id = _raw(signed["member"]["id"])
    await earn_points(runtime, clock, member_id, 300, "e1")
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    before = await _do(client, EXPORT, admin, memberId=gid(member_id))
    assert before["data"]["profile"]["phone"] == "+8613800138001"
    assert [e["points"] for e in before["data"]["ledger"]] == [300]
    assert "password_hash" not in before["data"]["profile"]

    clock.advance(timedelta(minutes=1))
    erased = await _do(client, ERASE, admin, memberId=gid(member_id), reason="GDPR request 42")
    assert erased["member"]["status"] == "ERASED" and erased["member"]["phone"] is None
    assert (await _do(client, ERASE, admin, memberId=gid(member_id), reason="again"))[
        "userErrors"
    ] == []
    again = await _do(client, REACTIVATE, admin, memberId=gid(member_id), reason="oops")
    assert again["userErrors"] == [{"code": "MEMBER_ERASED", "field": ["input", "memberId"]}]
    clock.advance(timedelta(minutes=1))
    after = (await _do(client, EXPORT, admin, memberId=gid(member_id)))["data"]
    assert "phone" not in after["profile"] and after["profile"]["status"] == "erased"
    assert "13800138001" not in json.dumps(after)
    assert [e["points"] for e in after["ledger"]] == [300]
    assert (await get_balance(runtime.mongo, member_id, clock.now())).available == 300
    assert await verify_balances(runtime.mongo) == []
    entries = await _audit(client, admin, f"member:{member_id}")
    assert [e["action"] for e in entries] == ["member.export", "member.erase", "member.export"]
    assert set(entries[1]["before"]["fields"]) >= {"name", "phone", "password_hash"}
    assert "13800138001" not in json.dumps(entries)  # the log names fields, never their values


@pytest.mark.parametrize("kind", ["member", "partner", "admin without members scopes"])
async def test_member_management_is_forbidden_without_the_scope(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, kind: str
) -> None:
    member_id = await make_member(runtime, clock)
    token = {
        "member": member_token(issuer, member_id),
        "partner": issuer.mint(PrincipalKind.PARTNER, "p1", scopes=ADMIN),
        "admin without members scopes": issuer.mint(
            PrincipalKind.ADMIN, "o", scopes=["audit:read"]
        ),
    }[kind]
    one = {"memberId": gid(member_id), "reason": "x"}
    bodies = [
        await ask(client, SEARCH, token, {"s": "Li", "first": 5}),
        await ask(client, CREATE, token, {"i": {"name": "N", "idempotencyKey": "k"}}),
        await ask(client, UPDATE, token, {"i": {"memberId": gid(member_id), "name": "N"}}),
        await ask(client, SUSPEND, token, {"i": one}),
        await ask(client, REACTIVATE, token, {"i": one}),
        await ask(client, ERASE, token, {"i": one}),
        await ask(client, EXPORT, token, {"i": {"memberId": gid(member_id)}}),
    ]
    assert [codes(body) for body in bodies] == [["FORBIDDEN"]] * 7
    stored = await runtime.mongo["members"].find_one({"_id": member_id})
    assert (
        stored is not None
        and stored["name"] == "Li Lei"
        and stored.get("status", "active") == "active"
    )


async def test_a_suspension_by_another_api_process_reaches_this_one_through_the_hub(
    server,  # noqa: F811
    clock,
) -> None:
    url, runtime = server
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    token = runtime.issuer.mint(PrincipalKind.MEMBER, member_id)
    base = url.replace("ws://", "http://")
    me = {"query": "{ me { id } }"}
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token}"}) as http:
        assert "errors" not in (await http.post(base, json=me)).json()
        # what app.members.access.end_access writes in the other process's transaction
        await runtime.mongo["notifications"].insert_one(
            {
                "kind": "access_revoked",
                "member_id": member_id,
                "reason": "fraud",
                "dedupe_key": f"access_revoked:{member_id}",
                "created_at": clock.now(),
                "read_at": None,
            }
        )
        for _ in range(100):
            body = (await http.post(base, json=me)).json()
            if codes(body) == ["UNAUTHENTICATED"]:
                break
            await asyncio.sleep(0.05)
        assert codes(body) == ["UNAUTHENTICATED"]
