"""Every write that sets a points figure, a stock or a threshold refuses a value past its bound
(app.bounds) with a typed user error before anything is written, and after a walk of the largest
accepted values every read still answers: the member's balance and history, the catalog, the
public program and the reports."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.bounds import MAX_ACCOUNT_POINTS, MAX_ENTRY_POINTS, MAX_STOCK
from app.clock import FrozenClock
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, make_program, member_token
from tests.bounds.test_big_purchase import read_everything
from tests.program.configs import demo_config

SCOPES = ["points:write", "catalog:read", "catalog:write", "program:read", "program:write"]
ADJUST = """mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) {
  entry { points balanceAfter } userErrors { code field } } }"""
REWARD = "reward { id stock pointsPrice } userErrors { code field }"
CREATE = f"mutation($i: CreateRewardInput!) {{ createReward(input: $i) {{ {REWARD} }} }}"
STOCK = f"mutation($i: MoveStockInput!) {{ moveStock(input: $i) {{ {REWARD} }} }}"
REDEEM = """mutation($i: RedeemRewardInput!) { redeemReward(input: $i) {
  redemption { points } userErrors { code field } } }"""
PROGRAM = """mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
  changed userErrors { code field } } }"""
CATALOG = "{ catalog(first: 10) { edges { node { pointsPrice stock } } } }"
PUBLIC = "{ program { tiers { threshold } } rewards(first: 10) { edges { node { pointsPrice stock } } } }"


async def do(client: httpx.AsyncClient, query: str, token: str, **i: Any) -> dict[str, Any]:
    payload: dict[str, Any] = next(iter(data(await ask(client, query, token, {"i": i})).values()))
    return payload


def refused(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_adjustments_stop_at_the_entry_and_the_account_bound(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=SCOPES)
    member = to_global_id("Member", member_id := await make_member(runtime, clock))
    one = {"memberId": member, "reason": "bounds"}
    past = await do(client, ADJUST, admin, points=MAX_ENTRY_POINTS + 1, idempotencyKey="a0", **one)
    assert refused(past) == ["POINTS_LIMIT"]
    for n in range(MAX_ACCOUNT_POINTS // MAX_ENTRY_POINTS):  # fill the account to its bound
        made = await do(
            client, ADJUST, admin, points=MAX_ENTRY_POINTS, idempotencyKey=f"a{n + 1}", **one
        )
        assert made["userErrors"] == [], made
    full = await do(client, ADJUST, admin, points=1, idempotencyKey="over", **one)
    assert refused(full) == ["POINTS_LIMIT"]
    everything = await read_everything(client, issuer, member_id)
    assert everything["me"]["balance"]["available"] == MAX_ACCOUNT_POINTS
    assert everything["reports"]["liability"]["points"] == MAX_ACCOUNT_POINTS


async def test_rewards_stock_and_thresholds_refuse_values_past_their_bounds(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=SCOPES)
    big = {"name": "Yacht", "idempotencyKey": "y"}
    price = await do(client, CREATE, admin, pointsPrice=MAX_ENTRY_POINTS + 1, **big)
    assert price["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "pointsPrice"]}]
    stock = await do(client, CREATE, admin, pointsPrice=1, stock=MAX_STOCK + 1, **big)
    assert stock["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "stock"]}]
    made = await do(
        client, CREATE, admin, pointsPrice=MAX_ENTRY_POINTS, stock=MAX_STOCK - 10, **big
    )
    reward = made["reward"]["id"]
    moved = await do(
        client, STOCK, admin, rewardId=reward, delta=11, reason="r", idempotencyKey="s1"
    )
    assert [e["code"] for e in moved["userErrors"]] and moved["reward"] is None
    moved = await do(
        client, STOCK, admin, rewardId=reward, delta=10, reason="r", idempotencyKey="s2"
    )
    assert moved["reward"]["stock"] == MAX_STOCK

    # 2 units at the largest price: more than one redemption may spend, refused as a quantity.
    member_id = await make_member(runtime, clock)
    token = member_token(issuer, member_id)
    asked = await do(client, REDEEM, token, rewardId=reward, quantity=2, idempotencyKey="r1")
    assert refused(asked) == ["INVALID_INPUT"]

    tiers = [
        {"code": "member", "name": "M", "threshold": 0},
        {"code": "gold", "name": "G", "threshold": 3_000_000_000},
    ]
    config = demo_config(tiers=tiers)
    applied = await do(client, PROGRAM, admin, config=config, idempotencyKey="p1")
    assert refused(applied) == ["VALIDATION"]
    assert data(await ask(client, CATALOG, admin))["catalog"]["edges"]
    public = data(await ask(client, PUBLIC, token))
    assert public["rewards"]["edges"][0]["node"] == {
        "pointsPrice": MAX_ENTRY_POINTS,
        "stock": MAX_STOCK,
    }
