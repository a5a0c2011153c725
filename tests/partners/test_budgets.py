"""A campaign's budget holds under concurrency: tills racing for its last points never overspend it."""

from __future__ import annotations

import asyncio

from tests.api.gql import make_member
from tests.partners.api import (
    make_program,
    partner_token,
    post_purchase,
    purchase_input,
    with_campaign,
)


def campaign_points(result: dict) -> int:
    return sum(
        row["points"] for row in result["purchase"]["breakdown"] if row["rule"] == "campaign:double"
    )


async def test_a_budget_is_given_out_until_it_is_spent(client, runtime, clock, issuer):
    await make_program(runtime, clock, with_campaign(budget=150))
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    first = await post_purchase(client, token, purchase_input(member, "o-1"))
    second = await post_purchase(client, token, purchase_input(member, "o-2"))
    third = await post_purchase(client, token, purchase_input(member, "o-3"))
    assert [campaign_points(r) for r in (first, second, third)] == [100, 50, 0]
    assert [r["purchase"]["total"] for r in (first, second, third)] == [200, 150, 100]


async def test_concurrent_purchases_never_spend_more_than_the_budget(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock, with_campaign(budget=250))
    members = [await make_member(runtime, clock, name=f"M{n}") for n in range(5)]
    token = await partner_token(runtime, clock, issuer)
    results = await asyncio.gather(
        *(post_purchase(client, token, purchase_input(m, f"o-{m}")) for m in members)
    )
    given = sorted(campaign_points(result) for result in results)
    assert sum(given) == 250
    assert given == [0, 0, 50, 100, 100]
    counter = await runtime.mongo["campaign_budgets"].find_one({"_id": "double"})
    assert counter["spent"] == 250
