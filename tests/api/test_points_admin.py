"""Operators correct points over HTTP: adjust, extend, clear one member or a filter, scopes enforced."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.corrections import run_job
from app.ledger import OpeningEarn, Rolling, earn, open_books, verify_balances
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, earn_points, make_member, member_token

ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
  entry { kind points balanceAfter description }
  userErrors { code field message ... on InsufficientPointsError { available required } } } }"""
CLEAR = """mutation($input: ClearPointsInput!) { clearPoints(input: $input) {
  entry { kind points } preview { members points }
  job { id total expectedPoints done points finished }
  userErrors { code field message } } }"""
EXTEND = """mutation($input: ExtendExpiryInput!) { extendExpiry(input: $input) {
  entry { kind points } preview { members points } job { id total done }
  userErrors { code field message } } }"""
JOB = """query($id: ID!) { pointsJob(id: $id) { total done changed skipped points finished } }"""
JOBS = """query($after: String) { pointsJobs(first: 1, after: $after) {
  edges { cursor node { id } } pageInfo { hasNextPage } } }"""


def admin(issuer: TokenIssuer, *scopes: str) -> str:
    return issuer.mint(PrincipalKind.ADMIN, "ops-1", scopes=list(scopes or ["points:write"]))


def gid(member_id: str) -> str:
    return to_global_id("Member", member_id)


async def available(runtime: Runtime, member_id: str) -> int:
    account = await runtime.mongo["accounts"].find_one({"_id": member_id})
    return 0 if account is None else int(account["available"])


async def adjust(client: httpx.AsyncClient, token: str, **input: Any) -> dict[str, Any]:
    body = await ask(client, ADJUST, token, {"input": input})
    result: dict[str, Any] = data(body)["adjustPoints"]
    return result


async def test_an_adjustment_gives_and_takes_points_audited_and_a_replay_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 100, "e1")
    token = admin(issuer)
    taken = await adjust(
        client,
        token,
        memberId=gid(member),
        points=-30,
        reason="double posting",
        idempotencyKey="k1",
    )
    assert taken == {
        "entry": {
            "kind": "ADJUST",
            "points": -30,
            "balanceAfter": 70,
            "description": "double posting",
        },
        "userErrors": [],
    }
    again = await adjust(
        client,
        token,
        memberId=gid(member),
        points=-30,
        reason="double posting",
        idempotencyKey="k1",
    )
    assert again == taken
    conflict = await adjust(
        client,
        token,
        memberId=gid(member),
        points=-31,
        reason="double posting",
        idempotencyKey="k1",
    )
    assert [e["code"] for e in conflict["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    given = await adjust(
        client, token, memberId=gid(member), points=5, reason="sorry", idempotencyKey="k2"
    )
    assert given["entry"]["balanceAfter"] == 75
    assert await available(runtime, member) == 75
    audit = [
        d async for d in runtime.mongo["audit"].find({"action": "points.adjust"}).sort("at", 1)
    ]
    assert sorted(
        (a["actor"], a["target"], a["before"]["available"], a["after"]["available"]) for a in audit
    ) == [
        ("admin:ops-1", f"member:{member}", 70, 75),
        ("admin:ops-1", f"member:{member}", 100, 70),
    ]


async def test_an_adjustment_is_refused_with_typed_errors_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 100, "e1")
    token = admin(issuer)
    beyond = await adjust(
        client, token, memberId=gid(member), points=-101, reason="x", idempotencyKey="a"
    )
    assert beyond["userErrors"] == [
        {
            "code": "INSUFFICIENT_POINTS",
            "field": ["input", "points"],
            "message": beyond["userErrors"][0]["message"],
            "available": 100,
            "required": 101,
        }
    ]
    nobody = await adjust(
        client, token, memberId=gid("m_nobody"), points=5, reason="x", idempotencyKey="b"
    )
    assert [(e["code"], e["field"]) for e in nobody["userErrors"]] == [
        ("NOT_FOUND", ["input", "memberId"])
    ]
    empty = await adjust(
        client, token, memberId=gid(member), points=5, reason="  ", idempotencyKey="c"
    )
    assert [(e["code"], e["field"]) for e in empty["userErrors"]] == [
        ("VALIDATION", ["input", "reason"])
    ]
    long = await adjust(
        client, token, memberId=gid(member), points=5, reason="x" * 501, idempotencyKey="d"
    )
    assert [e["code"] for e in long["userErrors"]] == ["VALIDATION"]
    zero = await adjust(
        client, token, memberId=gid(member), points=0, reason="x", idempotencyKey="e"
    )
    huge = await adjust(
        client, token, memberId=gid(member), points=2**31 - 1, reason="x", idempotencyKey="f"
    )
    assert [e["code"] for e in zero["userErrors"] + huge["userErrors"]] == [
        "INVALID_INPUT",
        "POINTS_LIMIT",
    ]
    assert await available(runtime, member) == 100
    assert await runtime.mongo["audit"].count_documents({}) == 0


@pytest.mark.parametrize(
    ("kind", "scopes"),
    [
        (PrincipalKind.MEMBER, []),
        (PrincipalKind.PARTNER, ["points:write"]),
        (PrincipalKind.ADMIN, ["members:write"]),
    ],
)
async def test_member_partner_and_unscoped_admin_tokens_are_forbidden(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    issuer: TokenIssuer,
    kind: PrincipalKind,
    scopes: list[str],
) -> None:
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 100, "e1")
    token = (
        member_token(issuer, member)
        if kind is PrincipalKind.MEMBER
        else issuer.mint(kind, "p1" if kind is PrincipalKind.PARTNER else "ops-2", scopes=scopes)
    )
    one = {"memberId": gid(member), "reason": "x", "idempotencyKey": "k"}
    bodies = [
        await ask(client, ADJUST, token, {"input": {**one, "points": -10}}),
        await ask(client, CLEAR, token, {"input": one}),
        await ask(client, EXTEND, token, {"input": {**one, "until": "2030-01-01T00:00:00Z"}}),
        await ask(client, JOB, token, {"id": to_global_id("PointsJob", "pj_x")}),
        await ask(client, JOBS, token),
    ]
    assert [codes(body) for body in bodies] == [["FORBIDDEN"]] * 5
    assert await available(runtime, member) == 100


async def test_one_members_clear_and_extension(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 100, "e1", policy=Rolling(days=10))
    token = admin(issuer)
    until = clock.now() + timedelta(days=90)
    one = {"memberId": gid(member), "idempotencyKey": "x1", "reason": "apology"}
    extended = data(
        await ask(client, EXTEND, token, {"input": {**one, "until": until.isoformat()}})
    )
    assert extended["extendExpiry"]["entry"] == {"kind": "EXTEND", "points": 0}
    lot = await runtime.mongo["lots"].find_one({"member_id": member})
    assert lot is not None and lot["expires_at"] == until
    past = {**one, "idempotencyKey": "x2", "until": (clock.now() - timedelta(days=1)).isoformat()}
    refused = data(await ask(client, EXTEND, token, {"input": past}))["extendExpiry"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("VALIDATION", ["input", "until"])
    ]
    cleared = data(await ask(client, CLEAR, token, {"input": {**one, "idempotencyKey": "c1"}}))
    assert cleared["clearPoints"]["entry"] == {"kind": "CLEAR", "points": -100}
    replay = data(await ask(client, CLEAR, token, {"input": {**one, "idempotencyKey": "c1"}}))
    assert replay == cleared
    assert await runtime.mongo["ledger"].count_documents({"kind": "CLEAR"}) == 1
    actions = [d["action"] async for d in runtime.mongo["audit"].find().sort("at", 1)]
    assert sorted(actions) == ["points.clear", "points.extend"]


async def test_a_bulk_clear_dry_run_then_a_job_the_worker_runs_and_its_progress(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    mongo = runtime.mongo
    long_ago = clock.now() - timedelta(days=800)
    await open_books(
        mongo,
        {f"d{n}": [OpeningEarn(10 * (n + 1), long_ago)] for n in range(6)},
        long_ago,
    )
    await open_books(mongo, {"fresh": [OpeningEarn(500, clock.now())]}, clock.now())
    token = admin(issuer)
    bulk = {"filter": {"dormantDays": 730}, "reason": "dormant 2 years", "idempotencyKey": "bulk-1"}
    dry = data(await ask(client, CLEAR, token, {"input": {**bulk, "dryRun": True}}))["clearPoints"]
    assert dry["preview"] == {"members": 6, "points": 210} and dry["job"] is None
    made = data(await ask(client, CLEAR, token, {"input": bulk}))["clearPoints"]
    job = made["job"]
    assert (job["total"], job["expectedPoints"], job["done"], job["finished"]) == (6, 210, 0, False)
    again = data(await ask(client, CLEAR, token, {"input": bulk}))["clearPoints"]
    assert again["job"]["id"] == job["id"]

    from graphql_schema.ids import from_global_id

    raw = from_global_id(job["id"], "PointsJob")[1]
    await run_job(mongo, clock, raw, owner="test", limit=2)
    progress = data(await ask(client, JOB, token, {"id": job["id"]}))["pointsJob"]
    assert progress == {
        "total": 6,
        "done": 2,
        "changed": 2,
        "skipped": 0,
        "points": 30,
        "finished": False,
    }
    await run_job(mongo, clock, raw, owner="test")
    progress = data(await ask(client, JOB, token, {"id": job["id"]}))["pointsJob"]
    assert progress == {
        "total": 6,
        "done": 6,
        "changed": 6,
        "skipped": 0,
        "points": 210,
        "finished": True,
    }
    assert await available(runtime, "fresh") == 500
    assert await verify_balances(mongo) == []
    listed = data(await ask(client, JOBS, token))["pointsJobs"]
    assert [e["node"]["id"] for e in listed["edges"]] == [job["id"]]
    assert listed["pageInfo"]["hasNextPage"] is False


async def test_a_bulk_request_names_one_target_and_a_known_filter(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    token = admin(issuer)
    base = {"reason": "x", "idempotencyKey": "k"}
    cases = [
        ({**base, "memberId": gid(member), "filter": {"tier": "gold"}}, ["input", "filter"]),
        (base, ["input", "filter"]),
        ({**base, "filter": {"dormantDays": 0}}, ["input", "filter", "dormantDays"]),
        ({**base, "filter": {"dormantDays": 5, "tier": "gold"}}, ["input", "filter"]),
        ({**base, "memberId": gid(member), "dryRun": True}, ["input", "filter"]),
    ]
    for input, field in cases:
        payload = data(await ask(client, CLEAR, token, {"input": input}))["clearPoints"]
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("VALIDATION", field)
        ], input
    assert await runtime.mongo["points_jobs"].count_documents({}) == 0


async def test_the_same_adjustment_sent_twice_at_once_is_applied_once(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 100, "e1")
    token = admin(issuer)
    input = {"memberId": gid(member), "points": -40, "reason": "dup", "idempotencyKey": "same"}
    first, second = await asyncio.gather(
        adjust(client, token, **input), adjust(client, token, **input)
    )
    assert first == second and first["entry"]["balanceAfter"] == 60
    assert await runtime.mongo["ledger"].count_documents({"kind": "ADJUST"}) == 1
    assert await runtime.mongo["audit"].count_documents({"action": "points.adjust"}) == 1
    assert await available(runtime, member) == 60


HISTORY = """query($id: ID!) { member(id: $id) { history(first: 10) {
  edges { node { kind points } } } } }"""
ERASE = """mutation($i: MemberStatusInput!) { eraseMember(input: $i) {
  member { status } userErrors { code } } }"""


async def test_an_extension_moves_and_lists_only_live_lots_before_its_date(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    until = clock.now() + timedelta(days=20)
    # 10 expire in 5 days, 20 exactly at `until`, 40 in 2 days: by then (no job has run) gone.
    await earn_points(runtime, clock, member, 40, "gone", policy=Rolling(days=2))
    clock.advance(timedelta(days=3))
    await earn_points(runtime, clock, member, 10, "soon", policy=Rolling(days=5))
    await earn_until(runtime, member, until)
    token = admin(issuer)
    body = {
        "memberId": gid(member),
        "until": until.isoformat(),
        "reason": "outage",
        "idempotencyKey": "x1",
    }
    moved = data(await ask(client, EXTEND, token, {"input": body}))["extendExpiry"]
    assert moved["userErrors"] == [] and moved["entry"]["kind"] == "EXTEND"
    entry = await runtime.mongo["ledger"].find_one({"kind": "EXTEND", "member_id": member})
    assert entry is not None
    lots = {share["lot_id"]: share["points"] for share in entry["lots"]}
    soon = await runtime.mongo["lots"].find_one({"member_id": member, "amount": 10})
    assert lots == {soon["_id"]: 10}  # not the expired 40, not the 20 already at `until`
    expired = await runtime.mongo["lots"].find_one({"member_id": member, "amount": 40})
    assert expired["status"] == "expired" and expired["expires_at"] < until
    assert await verify_balances(runtime.mongo) == []


async def earn_until(runtime: Runtime, member: str, until: datetime) -> None:
    """20 points earned now that expire exactly at `until`."""
    days = (until - runtime.clock.now()).days
    await earn(
        runtime.mongo,
        runtime.clock,
        member_id=member,
        points=20,
        idempotency_key="at-until",
        policy=Rolling(days=days),
    )
    lot = await runtime.mongo["lots"].find_one({"member_id": member, "amount": 20})
    assert lot is not None and lot["expires_at"] == until


async def test_an_erased_members_ledger_takes_no_adjustment_or_extension_but_clearing(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member = await make_member(runtime, clock)
    never = await make_member(runtime, clock, name="Never earned")
    await earn_points(runtime, clock, member, 100, "e1")
    ops = issuer.mint(
        PrincipalKind.ADMIN, "ops-1", scopes=["points:write", "members:write", "members:read"]
    )
    for who in (member, never):
        erased = data(
            await ask(client, ERASE, ops, {"i": {"memberId": gid(who), "reason": "gdpr"}})
        )
        assert erased["eraseMember"]["member"]["status"] == "ERASED"
        for points in (50, -50):
            refused = await adjust(
                client,
                ops,
                memberId=gid(who),
                points=points,
                reason="r",
                idempotencyKey=f"{who}:{points}",
            )
            assert [e["code"] for e in refused["userErrors"]] == ["MEMBER_ERASED"], refused
        body = {
            "memberId": gid(who),
            "until": (clock.now() + timedelta(days=9)).isoformat(),
            "reason": "r",
            "idempotencyKey": f"{who}:x",
        }
        extended = data(await ask(client, EXTEND, ops, {"input": body}))["extendExpiry"]
        assert [e["code"] for e in extended["userErrors"]] == ["MEMBER_ERASED"]
    # 清零 is the operator's deliberate way to take an erased member's points off the books.
    body = {"memberId": gid(member), "reason": "erased member", "idempotencyKey": "c1"}
    cleared = data(await ask(client, CLEAR, ops, {"input": body}))["clearPoints"]
    assert cleared["entry"] == {"kind": "CLEAR", "points": -100}
    kinds = [
        e["node"]["kind"]
        for e in data(await ask(client, HISTORY, ops, {"id": gid(member)}))["member"]["history"][
            "edges"
        ]
    ]
    assert kinds == ["CLEAR", "EARN"]
    assert await verify_balances(runtime.mongo) == []
