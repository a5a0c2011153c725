"""The catalog and redeemReward over HTTP: every rule, the coupon, replays and typed refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.ledger import verify_balances
from app.rewards import Reward, RewardKind
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

CATALOG = """query($first: Int!, $after: String, $category: String) {
  rewards(first: $first, after: $after, category: $category) {
    edges { cursor node { id name description category kind pointsPrice stock perMemberLimit } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) {
    redemption { id quantity points status couponCode couponExpiresAt createdAt
      reward { id name stock } }
    member { balance { available } }
    userErrors { __typename code message field
      ... on InsufficientPointsError { available required }
      ... on OutOfStockError { available }
      ... on LimitReachedError { limit redeemed } }
  }
}"""

TOTE = Reward(
    id="r_tote", name="Tote", category="goods", points_price=1200, stock=3, per_member_limit=2
)
COFFEE = Reward(
    id="r_coffee",
    name="Coffee",
    category="food",
    kind=RewardKind.COUPON,
    points_price=300,
    coupon_validity_days=30,
    description="One latte",
)
PHONES = Reward(
    id="r_phones",
    name="Headphones",
    category="electronics",
    points_price=25000,
    stock=5,
    min_tier="gold",
)
HIDDEN = Reward(id="r_hidden", name="Retired mug", points_price=10, active=False)


def rid(reward: Reward) -> str:
    return to_global_id("Reward", reward.id)


@pytest.fixture
async def catalog(runtime, clock) -> None:
    await make_program(runtime, clock)
    for reward in (TOTE, COFFEE, PHONES, HIDDEN):
        await make_reward(runtime, reward)


@pytest.fixture
async def member(runtime, clock, catalog) -> str:
    member_id = await make_member(runtime, clock)
    await earn_points(runtime, clock, member_id, 5000, "welcome")
    return member_id


@pytest.fixture
def token(issuer, member) -> str:
    return member_token(issuer, member)


async def redeem(client, token, reward: Reward, key: str = "k1", quantity: int = 1):
    variables = {"input": {"rewardId": rid(reward), "quantity": quantity, "idempotencyKey": key}}
    return data(await ask(client, REDEEM, token, variables))["redeemReward"]


async def test_the_catalog_is_public_and_lists_active_rewards_cheapest_first(client, catalog):
    body = data(await ask(client, CATALOG, None, {"first": 10}))
    nodes = [edge["node"] for edge in body["rewards"]["edges"]]
    assert [n["name"] for n in nodes] == ["Coffee", "Tote", "Headphones"]
    assert nodes[0] == {
        "id": rid(COFFEE),
        "name": "Coffee",
        "description": "One latte",
        "category": "food",
        "kind": "COUPON",
        "pointsPrice": 300,
        "stock": None,
        "perMemberLimit": None,
    }


async def test_the_catalog_pages_with_cursors_and_filters_by_category(client, catalog):
    first = data(await ask(client, CATALOG, None, {"first": 2}))["rewards"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    second = data(await ask(client, CATALOG, None, {"first": 2, "after": after}))["rewards"]
    assert [e["node"]["name"] for e in second["edges"]] == ["Headphones"]
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True
    food = data(await ask(client, CATALOG, None, {"first": 10, "category": "food"}))["rewards"]
    assert [e["node"]["name"] for e in food["edges"]] == ["Coffee"]


async def test_the_catalog_respects_the_active_window(client, runtime, clock, catalog):
    later = Reward(
        id="r_later", name="Later", points_price=1, active_from=clock.now() + timedelta(days=1)
    )
    over = Reward(id="r_over", name="Over", points_price=2, active_until=clock.now())
    await make_reward(runtime, later)
    await make_reward(runtime, over)
    names = [
        e["node"]["name"]
        for e in data(await ask(client, CATALOG, None, {"first": 10}))["rewards"]["edges"]
    ]
    assert "Later" not in names and "Over" not in names
    clock.advance(timedelta(days=1))
    names = [
        e["node"]["name"]
        for e in data(await ask(client, CATALOG, None, {"first": 10}))["rewards"]["edges"]
    ]
    assert names[0] == "Later"


async def test_redeeming_goods_spends_points_and_stock_in_one_go(
    client, runtime, clock, member, token
) -> None:
    payload = await redeem(client, token, TOTE, quantity=2)
    assert payload["userErrors"] == []
    redemption = payload["redemption"]
    assert redemption["quantity"] == 2 and redemption["points"] == 2400
    assert redemption["status"] == "COMPLETED"
    assert redemption["couponCode"] is None
    assert redemption["reward"] == {"id": rid(TOTE), "name": "Tote", "stock": 1}
    assert redemption["createdAt"] == clock.now().isoformat(timespec="milliseconds")
    assert payload["member"] == {"balance": {"available": 2600}}
    entry = await runtime.mongo["ledger"].find_one({"kind": "REDEEM"})
    assert (entry["points"], entry["reference"]) == (-2400, "Tote")
    assert await verify_balances(runtime.mongo) == []


async def test_a_coupon_reward_issues_a_unique_code_with_its_own_validity(
    client, runtime, clock, member, token
) -> None:
    first = (await redeem(client, token, COFFEE, key="c1"))["redemption"]
    second = (await redeem(client, token, COFFEE, key="c2"))["redemption"]
    assert first["couponCode"] and second["couponCode"]
    assert first["couponCode"] != second["couponCode"]
    assert first["couponExpiresAt"] == (clock.now() + timedelta(days=30)).isoformat(
        timespec="milliseconds"
    )
    stored = await runtime.mongo["redemptions"].find_one({"coupon_code": first["couponCode"]})
    assert stored["coupon_expires_at"] == clock.now() + timedelta(days=30)


async def test_insufficient_points_says_how_many_are_available_and_needed(
    client, runtime, clock, catalog
) -> None:
    poor = await make_member(runtime, clock, name="Poor")
    await earn_points(runtime, clock, poor, 1000, "e")
    payload = await redeem(client, member_token(runtime.issuer, poor), TOTE)
    assert payload["redemption"] is None
    assert payload["userErrors"] == [
        {
            "__typename": "InsufficientPointsError",
            "code": "INSUFFICIENT_POINTS",
            "message": "1200 points needed, 1000 available",
            "field": None,
            "available": 1000,
            "required": 1200,
        }
    ]
    stock = await runtime.mongo["rewards"].find_one({"_id": TOTE.id})
    assert stock["stock"] == 3  # the aborted transaction took no unit, claimed nothing
    assert await runtime.mongo["reward_claims"].count_documents({}) == 0
    assert await runtime.mongo["redemptions"].count_documents({}) == 0
    assert await runtime.mongo["ledger"].count_documents({"member_id": poor}) == 1


async def test_out_of_stock_and_per_member_limit_are_typed_errors(
    client, runtime, clock, member, token
) -> None:
    assert (await redeem(client, token, TOTE, key="a", quantity=2))["userErrors"] == []
    limited = await redeem(client, token, TOTE, key="b")
    assert limited["userErrors"][0]["__typename"] == "LimitReachedError"
    assert (limited["userErrors"][0]["limit"], limited["userErrors"][0]["redeemed"]) == (2, 2)
    rich = await make_member(runtime, clock, name="Rich")
    await earn_points(runtime, clock, rich, 10_000, "e")
    rich_token = member_token(runtime.issuer, rich)
    out = await redeem(client, rich_token, TOTE, key="c", quantity=2)
    assert out["userErrors"][0]["__typename"] == "OutOfStockError"
    assert out["userErrors"][0]["available"] == 1
    assert (await redeem(client, rich_token, TOTE, key="d"))["userErrors"] == []


async def test_a_minimum_tier_and_an_inactive_reward_are_unavailable(
    client, runtime, clock, member, token
) -> None:
    tier = await redeem(client, token, PHONES)
    assert tier["userErrors"][0]["code"] == "REWARD_UNAVAILABLE"
    hidden = await redeem(client, token, HIDDEN, key="k2")
    assert hidden["userErrors"][0]["code"] == "REWARD_UNAVAILABLE"
    gold = await make_member(runtime, clock, name="Gold", tier="gold")
    await earn_points(runtime, clock, gold, 30_000, "e")
    assert (await redeem(client, member_token(runtime.issuer, gold), PHONES))["userErrors"] == []


async def test_unknown_reward_and_bad_quantity_are_user_errors(client, member, token) -> None:
    missing = Reward(id="r_missing", name="Missing", points_price=1)
    assert (await redeem(client, token, missing))["userErrors"][0]["code"] == "NOT_FOUND"
    for quantity in (0, -1, 101):
        bad = await redeem(client, token, TOTE, key=f"q{quantity}", quantity=quantity)
        assert bad["userErrors"][0]["code"] == "INVALID_INPUT"
        assert bad["userErrors"][0]["field"] == ["input", "quantity"]
    coupon_pair = await redeem(client, token, COFFEE, key="pair", quantity=2)
    assert coupon_pair["userErrors"][0]["code"] == "INVALID_INPUT"


async def test_a_replayed_key_returns_the_first_result_and_spends_nothing_more(
    client, runtime, clock, member, token
) -> None:
    clock.advance(timedelta(microseconds=123_456))  # finer than MongoDB keeps
    first = await redeem(client, token, COFFEE, key="same")
    again = await redeem(client, token, COFFEE, key="same")
    assert again["redemption"] == first["redemption"]
    assert again["member"] == {"balance": {"available": 4700}}
    assert await runtime.mongo["redemptions"].count_documents({}) == 1
    assert await runtime.mongo["ledger"].count_documents({"kind": "REDEEM"}) == 1


async def test_a_replay_after_the_last_unit_went_still_returns_the_first_result(
    client, runtime, clock, member, token
) -> None:
    last = Reward(id="r_last", name="Last one", points_price=100, stock=1, per_member_limit=1)
    await make_reward(runtime, last)
    first = await redeem(client, token, last, key="once")
    # The stock and the member's limit are both used up now: the replay is answered, not refused.
    again = await redeem(client, token, last, key="once")
    assert again["userErrors"] == [] and again["redemption"] == first["redemption"]
    assert again["member"] == {"balance": {"available": 4900}}
    assert await runtime.mongo["redemptions"].count_documents({}) == 1


async def test_the_same_key_with_another_input_is_an_idempotency_conflict(
    client, runtime, member, token
) -> None:
    await redeem(client, token, TOTE, key="same")
    other_quantity = await redeem(client, token, TOTE, key="same", quantity=2)
    other_reward = await redeem(client, token, COFFEE, key="same")
    for payload in (other_quantity, other_reward):
        assert payload["redemption"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])
        ]
    assert await runtime.mongo["redemptions"].count_documents({}) == 1


async def test_keys_are_per_member(client, runtime, clock, member, token) -> None:
    other = await make_member(runtime, clock, name="Other")
    await earn_points(runtime, clock, other, 1000, "e")
    await redeem(client, token, COFFEE, key="shared")
    theirs = await redeem(client, member_token(runtime.issuer, other), COFFEE, key="shared")
    assert theirs["userErrors"] == [] and theirs["member"] == {"balance": {"available": 700}}


async def test_redemptions_list_newest_first_with_their_rewards(
    client, runtime, clock, member, token
) -> None:
    await redeem(client, token, COFFEE, key="1")
    clock.advance(timedelta(minutes=1))
    await redeem(client, token, TOTE, key="2")
    clock.advance(timedelta(minutes=1))
    await redeem(client, token, COFFEE, key="3")
    query = """query($after: String) { me { redemptions(first: 2, after: $after) {
      edges { node { points reward { name } } } pageInfo { hasNextPage endCursor } } } }"""
    page = data(await ask(client, query, token, {}))["me"]["redemptions"]
    assert [e["node"]["reward"]["name"] for e in page["edges"]] == ["Coffee", "Tote"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = data(await ask(client, query, token, {"after": page["pageInfo"]["endCursor"]}))
    edges = rest["me"]["redemptions"]["edges"]
    assert [e["node"] for e in edges] == [{"points": 300, "reward": {"name": "Coffee"}}]
