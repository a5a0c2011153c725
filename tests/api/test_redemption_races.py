"""Redemptions racing each other over HTTP: stock is never oversold, limits hold, replays spend once."""

from __future__ import annotations

import asyncio
from collections import Counter

from app.ledger import verify_balances
from app.rewards import Reward
from graphql_schema.ids import to_global_id
from tests.api.gql import (
    ask,
    data,
    earn_points,
    make_member,
    make_program,
    make_reward,
    member_token,
)

REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id } userErrors { code } }
}"""


def outcome(body) -> str:
    payload = data(body)["redeemReward"]
    if payload["redemption"] is not None:
        assert payload["userErrors"] == []
        return "redeemed"
    [error] = payload["userErrors"]
    return error["code"]


async def test_fifty_members_racing_for_the_last_ten_units_get_exactly_ten(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    reward = Reward(id="r_last", name="Last ten", points_price=100, stock=10)
    await make_reward(runtime, reward)
    tokens = []
    for n in range(50):
        member_id = await make_member(runtime, clock, name=f"m{n}")
        await earn_points(runtime, clock, member_id, 100, f"e{n}")
        tokens.append(member_token(issuer, member_id))
    variables = {"input": {"rewardId": to_global_id("Reward", reward.id), "idempotencyKey": "k"}}
    bodies = await asyncio.gather(*(ask(client, REDEEM, t, variables) for t in tokens))
    assert Counter(outcome(body) for body in bodies) == {"redeemed": 10, "OUT_OF_STOCK": 40}
    stored = await runtime.mongo["rewards"].find_one({"_id": reward.id})
    assert stored["stock"] == 0
    assert await runtime.mongo["redemptions"].count_documents({}) == 10
    assert await runtime.mongo["ledger"].count_documents({"kind": "REDEEM"}) == 10
    assert await verify_balances(runtime.mongo) == []


async def test_one_member_racing_past_the_per_member_limit_gets_only_the_limit(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    reward = Reward(id="r_limit", name="Two each", points_price=10, per_member_limit=2)
    await make_reward(runtime, reward)
    member_id = await make_member(runtime, clock)
    await earn_points(runtime, clock, member_id, 1000, "e")
    token = member_token(issuer, member_id)
    rid = to_global_id("Reward", reward.id)
    bodies = await asyncio.gather(
        *(
            ask(client, REDEEM, token, {"input": {"rewardId": rid, "idempotencyKey": f"k{n}"}})
            for n in range(12)
        )
    )
    assert Counter(outcome(body) for body in bodies) == {"redeemed": 2, "LIMIT_REACHED": 10}
    assert await runtime.mongo["redemptions"].count_documents({"member_id": member_id}) == 2
    balance = await runtime.mongo["accounts"].find_one({"_id": member_id})
    assert balance["available"] == 980


async def test_concurrent_replays_of_one_key_redeem_once(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)
    reward = Reward(id="r_many", name="Plenty", points_price=10)
    await make_reward(runtime, reward)
    member_id = await make_member(runtime, clock)
    await earn_points(runtime, clock, member_id, 1000, "e")
    token = member_token(issuer, member_id)
    variables = {"input": {"rewardId": to_global_id("Reward", reward.id), "idempotencyKey": "once"}}
    bodies = await asyncio.gather(*(ask(client, REDEEM, token, variables) for _ in range(10)))
    ids = {data(body)["redeemReward"]["redemption"]["id"] for body in bodies}
    assert len(ids) == 1
    assert await runtime.mongo["redemptions"].count_documents({}) == 1
    balance = await runtime.mongo["accounts"].find_one({"_id": member_id})
    assert balance["available"] == 990
