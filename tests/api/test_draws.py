"""Points draws over HTTP: operators create and close them, members enter; the points spent and
the prize come in one transaction, replays return the first outcome, limits and stock hold under
200 concurrent entries."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import OpeningEarn, get_balance, open_books, verify_balances
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, earn_points, make_member, make_program, member_token

DRAW = "draw { id name cost closed prizes { id name chance remaining points } noPrizeChance"
CREATE = f"mutation($i: CreateDrawInput!) {{ createDraw(input: $i) {{ {DRAW} }} userErrors {{ code field }} }} }}"
CLOSE = f"mutation($i: CloseDrawInput!) {{ closeDraw(input: $i) {{ {DRAW} }} userErrors {{ code }} }} }}"
ENTER = """mutation($i: EnterDrawInput!) { enterDraw(input: $i) {
  entry { id won prizeId prizeName prizePoints cost } userErrors { code field } } }"""
OPEN = "{ draws { id name prizes { id remaining chance } } }"
UPDATE = f"""mutation($i: UpdateDrawInput!) {{ updateDraw(input: $i) {{ {DRAW} endsAt dailyLimit }}
  userErrors {{ code field }} }} }}"""
ALL = """query($after: String) { allDraws(first: 2, after: $after) {
  edges { node { name endsAt } } pageInfo { hasNextPage endCursor } } }"""
ENTRIES = """query($after: String) { me { drawEntries(first: 2, after: $after) {
  edges { node { drawId won prizeName cost } } pageInfo { hasNextPage endCursor } } } }"""


async def _do(client: httpx.AsyncClient, query: str, token: str, **i: Any) -> dict[str, Any]:
    payload: dict[str, Any] = next(iter(data(await ask(client, query, token, {"i": i})).values()))
    return payload


def _draw_input(clock: FrozenClock, key: str, **extra: Any) -> dict[str, Any]:
    now = clock.now()
    return {
        "name": "Lucky wheel",
        "cost": 50,
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(days=7)).isoformat(),
        "idempotencyKey": key,
        "prizes": [
            {"id": "mug", "name": "Mug", "weight": 1, "stock": 2},
            {"id": "pts", "name": "500 points", "weight": 1, "points": 500},
        ],
        "noPrizeWeight": 2,
        **extra,
    }


async def test_entries_spend_the_cost_record_the_prize_and_replay_and_limits_hold(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write"])
    made = await _do(client, CREATE, admin, **_draw_input(clock, "d1", dailyLimit=3))
    assert await _do(client, CREATE, admin, **_draw_input(clock, "d1", dailyLimit=3)) == made
    draw = made["draw"]
    assert [p["chance"] for p in draw["prizes"]] == [0.25, 0.25] and draw["noPrizeChance"] == 0.5
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 1_000, "e1")
    token = member_token(issuer, member)
    assert [d["name"] for d in data(await ask(client, OPEN, token))["draws"]] == ["Lucky wheel"]

    first = await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey="k1")
    assert await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey="k1") == first
    won = [first] + [
        await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey=f"k{n}") for n in (2, 3)
    ]
    assert all(w["userErrors"] == [] for w in won)
    fourth = await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey="k4")
    assert fourth["userErrors"] == [{"code": "LIMIT_REACHED", "field": ["input", "drawId"]}]
    bonus = sum(w["entry"]["prizePoints"] for w in won)
    assert (
        await get_balance(runtime.mongo, member, clock.now())
    ).available == 1_000 - 3 * 50 + bonus
    spends = (
        await runtime.mongo["ledger"].find({"member_id": member, "kind": "REDEEM"}).to_list(None)
    )
    assert sorted(s.get("prize_id") or "" for s in spends) == sorted(
        w["entry"]["prizeId"] or "" for w in won
    )  # the outcome is on the ledger entry

    clock.advance(timedelta(days=1))  # a new local day: three more
    token = member_token(issuer, member)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write"])
    assert (await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey="k5"))["entry"]
    closed = await _do(client, CLOSE, admin, drawId=draw["id"], reason="ended early")
    assert closed["draw"]["closed"] is True
    late = await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey="k6")
    assert late["userErrors"] == [{"code": "DRAW_CLOSED", "field": ["input", "drawId"]}]
    assert data(await ask(client, OPEN, token))["draws"] == []
    assert await verify_balances(runtime.mongo) == []


async def test_two_hundred_concurrent_entries_never_oversell_ten_prizes(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write"])
    prizes = [{"id": "phone", "name": "Phone", "weight": 1, "stock": 10}]
    made = await _do(
        client, CREATE, admin, **{**_draw_input(clock, "big"), "prizes": prizes, "noPrizeWeight": 1}
    )
    draw_id = made["draw"]["id"]
    members = [f"m_draw_{n}" for n in range(200)]
    await open_books(
        runtime.mongo, {m: [OpeningEarn(100, clock.now())] for m in members}, clock.now()
    )
    entries = await asyncio.gather(
        *(
            _do(client, ENTER, member_token(issuer, m), drawId=draw_id, idempotencyKey="one")
            for m in members
        )
    )
    assert all(e["userErrors"] == [] for e in entries), [e for e in entries if e["userErrors"]][:3]
    winners = [e for e in entries if e["entry"]["won"]]
    assert len(winners) == 10
    left = data(await ask(client, OPEN, member_token(issuer, members[0])))["draws"][0]
    assert left["prizes"][0]["remaining"] == 0
    assert await runtime.mongo["draw_entries"].count_documents({"prize_id": "phone"}) == 10
    assert await runtime.mongo["ledger"].count_documents({"kind": "REDEEM"}) == 200
    assert await verify_balances(runtime.mongo) == []


async def test_refusals_spend_nothing(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write"])
    draw = (await _do(client, CREATE, admin, **_draw_input(clock, "d1")))["draw"]
    poor = await make_member(runtime, clock)
    await earn_points(runtime, clock, poor, 40, "e1")
    token = member_token(issuer, poor)
    short = await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey="k")
    assert short["userErrors"] == [{"code": "INSUFFICIENT_POINTS", "field": ["input", "drawId"]}]
    missing = await _do(
        client, ENTER, token, drawId=to_global_id("Draw", "dr_x"), idempotencyKey="k2"
    )
    assert missing["userErrors"] == [{"code": "NOT_FOUND", "field": ["input", "drawId"]}]
    bad = await _do(client, CREATE, admin, **_draw_input(clock, "d2", cost=0))
    assert bad["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "cost"]}]
    assert (await get_balance(runtime.mongo, poor, clock.now())).available == 40


@pytest.mark.parametrize("kind", ["member", "partner", "admin without draws:write"])
async def test_draw_administration_is_forbidden_without_the_scope(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, kind: str
) -> None:
    member = await make_member(runtime, clock)
    token = {
        "member": member_token(issuer, member),
        "partner": issuer.mint(PrincipalKind.PARTNER, "p1", scopes=["draws:write"]),
        "admin without draws:write": issuer.mint(PrincipalKind.ADMIN, "o", scopes=["audit:read"]),
    }[kind]
    draw = to_global_id("Draw", "dr_x")
    bodies = [
        await ask(client, CREATE, token, {"i": _draw_input(clock, "k")}),
        await ask(client, CLOSE, token, {"i": {"drawId": draw, "reason": "r"}}),
        await ask(client, "{ allDraws(first: 5) { edges { node { id } } } }", token),
        await ask(client, UPDATE, token, {"i": {"drawId": draw, "reason": "r", "name": "x"}}),
    ]
    assert [codes(body) for body in bodies] == [["FORBIDDEN"]] * 4
    assert await runtime.mongo["draws"].count_documents({}) == 0


async def test_contention_does_not_change_the_odds(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    """100 concurrent entries at even odds win about 50 times. Rolling again after a write
    conflict would favour "no prize" (it writes nothing to conflict on): that gave 3 in 120."""
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write"])
    prizes = [{"id": "cup", "name": "Cup", "weight": 1, "stock": 1_000}]
    made = await _do(
        client,
        CREATE,
        admin,
        **{**_draw_input(clock, "even"), "prizes": prizes, "noPrizeWeight": 1},
    )
    members = [f"m_even_{n}" for n in range(100)]
    await open_books(
        runtime.mongo, {m: [OpeningEarn(100, clock.now())] for m in members}, clock.now()
    )
    entries = await asyncio.gather(
        *(
            _do(
                client,
                ENTER,
                member_token(issuer, m),
                drawId=made["draw"]["id"],
                idempotencyKey="e",
            )
            for m in members
        )
    )
    wins = sum(1 for e in entries if e["entry"]["won"])
    assert 23 <= wins <= 77, wins  # binomial(100, 1/2) is outside this once in 10^8


async def test_operators_page_every_draw_and_change_one_with_a_reason(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write", "audit:read"])
    made = []
    for n in range(5):
        ends = (clock.now() + timedelta(days=n + 1)).isoformat()
        made.append(
            (
                await _do(
                    client,
                    CREATE,
                    admin,
                    **_draw_input(clock, f"d{n}", endsAt=ends, name=f"Wheel {n}"),
                )
            )["draw"]
        )
    names, after = [], None
    while True:
        page = data(await ask(client, ALL, admin, {"after": after}))["allDraws"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == [f"Wheel {n}" for n in (4, 3, 2, 1, 0)]  # the latest ending first, each once
    assert codes(await ask(client, ALL, admin, {"after": "bm90IGEgY3Vyc29y"})) == ["BAD_USER_INPUT"]

    target = made[0]["id"]
    later = (clock.now() + timedelta(days=30)).isoformat()
    changed = await _do(
        client,
        UPDATE,
        admin,
        drawId=target,
        reason="more mugs for the weekend",
        endsAt=later,
        dailyLimit=None,
        prizes=[{"id": "mug", "stock": 10}],
    )
    assert changed["userErrors"] == []
    assert changed["draw"]["dailyLimit"] is None and changed["draw"]["endsAt"].startswith(
        later[:19]
    )
    assert [p["remaining"] for p in changed["draw"]["prizes"]] == [10, None]
    again = await _do(
        client,
        UPDATE,
        admin,
        drawId=target,
        reason="again",
        endsAt=later,
        prizes=[{"id": "mug", "stock": 10}],
    )
    assert again["draw"] == changed["draw"]  # the same values change and record nothing
    refused = [
        await _do(client, UPDATE, admin, drawId=target, reason=" ", name="x"),
        await _do(
            client, UPDATE, admin, drawId=target, reason="r", prizes=[{"id": "nope", "stock": 1}]
        ),
        await _do(
            client, UPDATE, admin, drawId=target, reason="r", prizes=[{"id": "mug", "stock": -1}]
        ),
        await _do(client, UPDATE, admin, drawId=target, reason="r", endsAt=clock.now().isoformat()),
        await _do(client, UPDATE, admin, drawId=target, reason="r", name=None),
        await _do(client, UPDATE, admin, drawId=to_global_id("Draw", "dr_x"), reason="r", name="x"),
    ]
    assert [r["userErrors"][0]["code"] for r in refused] == [
        "INVALID_INPUT",
        "NOT_FOUND",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "INVALID_INPUT",
        "NOT_FOUND",
    ]
    log = data(
        await ask(
            client,
            """{ auditLog(first: 10, filter: {action: "draw.update"}) {
      edges { node { note before after } } } }""",
            admin,
        )
    )["auditLog"]["edges"]
    assert [edge["node"]["note"] for edge in log] == ["more mugs for the weekend"]
    before, after_values = log[0]["node"]["before"], log[0]["node"]["after"]
    assert before["prizes"][0]["stock"] == 2 and after_values["prizes"][0]["stock"] == 10
    assert set(after_values) == {"ends_at", "prizes"}


async def test_members_page_their_own_entries_and_a_suspended_member_cannot_enter(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write", "members:write"])
    draw = (await _do(client, CREATE, admin, **_draw_input(clock, "d1")))["draw"]
    member, other = await make_member(runtime, clock), await make_member(runtime, clock)
    for who in (member, other):
        await earn_points(runtime, clock, who, 1_000, f"e-{who}")
    token = member_token(issuer, member)
    for n in range(3):
        clock.advance(timedelta(seconds=1))
        assert (await _do(client, ENTER, token, drawId=draw["id"], idempotencyKey=f"k{n}"))["entry"]
    await _do(client, ENTER, member_token(issuer, other), drawId=draw["id"], idempotencyKey="o")
    seen, after = [], None
    while True:
        page = data(await ask(client, ENTRIES, token, {"after": after}))["me"]["drawEntries"]
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 3 and {e["drawId"] for e in seen} == {draw["id"]}  # only their own
    assert all(e["cost"] == 50 for e in seen)

    suspend = (
        """mutation($i: MemberStatusInput!) { suspendMember(input: $i) { userErrors { code } } }"""
    )
    from graphql_schema.ids import to_global_id as gid

    assert data(
        await ask(
            client, suspend, admin, {"i": {"memberId": gid("Member", other), "reason": "fraud"}}
        )
    )
    clock.advance(timedelta(seconds=1))  # a token minted after the suspension
    refused = await _do(
        client,
        ENTER,
        member_token(issuer, other),
        drawId=draw["id"],
        idempotencyKey="after-suspension",
    )
    assert refused["userErrors"] == [{"code": "MEMBER_SUSPENDED", "field": ["input", "drawId"]}]
    assert (await get_balance(runtime.mongo, other, clock.now())).available == 950 + (
        await runtime.mongo["draw_entries"].find_one({"member_id": other})
    )["prize_points"]


@pytest.mark.parametrize(
    ("field", "at"),
    [
        ("startsAt", "0001-01-01T00:00:00+00:00"),
        ("endsAt", "9999-12-31T23:59:59+00:00"),
        ("endsAt", "2200-01-01T00:00:00+00:00"),
    ],
)
async def test_a_draw_window_outside_the_years_2000_to_2199_is_refused_before_any_write(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, field, at
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["draws:write"])
    bad = await _do(client, CREATE, admin, **_draw_input(clock, "far", **{field: at}))
    assert bad["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", field]}]
    assert await runtime.mongo["draws"].count_documents({}) == 0
    made = (await _do(client, CREATE, admin, **_draw_input(clock, "near")))["draw"]
    changed = await _do(
        client, UPDATE, admin, drawId=made["id"], endsAt="9999-12-31T00:00:00+00:00", reason="typo"
    )
    assert changed["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "endsAt"]}]
