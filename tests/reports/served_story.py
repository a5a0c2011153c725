"""A small story told through the served API, for tests that read reports of it (or copy it): two
members' purchases with a campaign, a refund and a redemption."""

from __future__ import annotations

from app.auth import TokenIssuer
from app.clock import FrozenClock
from app.rewards import Reward
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, make_reward, member_token
from tests.partners.api import (
    make_program,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
    with_campaign,
)

REDEEM = """mutation($input: RedeemRewardInput!) { redeemReward(input: $input) {
  redemption { id } userErrors { code } } }"""


async def tell_served_story(
    client: object, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> tuple[str, str]:
    """Ann buys 150 and redeems 2 totes; Bo buys 400 and is refunded 100 of it: (ann, bo)."""
    await make_program(runtime, clock, with_campaign(budget=100_000))
    till = await partner_token(runtime, clock, issuer)
    ann, bo = await make_member(runtime, clock, name="Ann"), await make_member(runtime, clock)
    for member, order, amounts in ((ann, "o1", ("100", "50")), (bo, "o2", ("400",))):
        posted = await post_purchase(client, till, purchase_input(member, order, amounts=amounts))
        assert posted["userErrors"] == []
    refund = {"orderId": "o2", "refundId": "r1", "lines": [{"lineId": "L1", "amount": "100"}]}
    assert (await post_refund(client, till, refund))["userErrors"] == []
    await make_reward(runtime, Reward(id="r_tote", name="Tote", points_price=100))
    redeem = {"rewardId": to_global_id("Reward", "r_tote"), "quantity": 2, "idempotencyKey": "k"}
    ok = data(await ask(client, REDEEM, member_token(issuer, ann), {"input": redeem}))
    assert ok["redeemReward"]["userErrors"] == []
    return ann, bo
