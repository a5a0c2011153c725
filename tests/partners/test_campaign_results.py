"""Campaign results over HTTP while the campaign runs: reach and earners by group, points against
the budget, the control group given nothing and its spend measured, by channel and store; and a
budget that stops the campaign at its last point under 50 concurrent purchases."""

from __future__ import annotations

import asyncio
from typing import Any

from app.program import Campaign, Program, in_control_group
from tests.api.gql import ask, data, make_member
from tests.api.test_points_admin import admin
from tests.partners.api import PROGRAM, make_program, partner_token, post_purchase, purchase_input

RESULTS = """query($id: String!) { campaignResults(campaignId: $id) {
  campaignId budget budgetLeft incrementalSpend
  audience { members earned purchases spend points }
  control { members earned purchases spend points }
  byChannelAndStore { group channel store purchases spend points }
} }"""


def with_campaign(**fields: Any) -> Program:
    campaign = Campaign.model_validate(
        {"id": "spring", "name": "Spring", "multiplier": "2", **fields}
    )
    return PROGRAM.model_copy(update={"campaigns": (campaign,)})


def campaign_points(result: dict[str, Any]) -> int:
    return sum(
        r["points"] for r in result["purchase"]["breakdown"] if r["rule"] == "campaign:spring"
    )


async def test_results_count_reach_earners_and_the_control_groups_spend(
    client, runtime, clock, issuer
):
    program = with_campaign(holdout_percent="30", when={"fact": "store", "ne": "outlet"})
    await make_program(runtime, clock, program)
    members = [await make_member(runtime, clock, name=f"M{n}") for n in range(20)]
    control = {m for m in members if in_control_group(program.campaigns[0], m)}
    assert 0 < len(control) < 20  # 30 % drawn: some of 20 are held out
    token = await partner_token(runtime, clock, issuer)
    for n, member in enumerate(members):
        sent = {"channel": "app" if n % 2 else "store", "storeId": "s1"}
        first = await post_purchase(
            client, token, purchase_input(member, f"o-{n}", amounts=("100",), **sent)
        )
        assert campaign_points(first) == (0 if member in control else 100)
        again = await post_purchase(
            client, token, purchase_input(member, f"o-{n}", amounts=("100",), **sent)
        )
        assert again == first  # a replay counts nothing more
    outlet = await post_purchase(
        client, token, purchase_input(members[0], "o-outlet", amounts=("50",), storeId="outlet")
    )
    assert campaign_points(outlet) == 0  # outside the audience: not reached, not counted

    results = data(await ask(client, RESULTS, admin(issuer, "reports:read"), {"id": "spring"}))
    view = results["campaignResults"]
    audience, held = 20 - len(control), len(control)
    assert view["audience"] == {
        "members": audience,
        "earned": audience,
        "purchases": audience,
        "spend": str(100 * audience),
        "points": 100 * audience,
    }
    assert view["control"] == {
        "members": held,
        "earned": 0,
        "purchases": held,
        "spend": str(100 * held),
        "points": 0,
    }
    assert view["incrementalSpend"] == "0"  # both groups spent 100 a member
    assert (view["budget"], view["budgetLeft"]) == (None, None)
    slices = {
        (s["group"], s["channel"], s["store"]): s["purchases"] for s in view["byChannelAndStore"]
    }
    assert sum(slices.values()) == 20 and {key[2] for key in slices} == {"s1"}
    app_members = [m for n, m in enumerate(members) if n % 2]
    assert slices.get(("audience", "app", "s1"), 0) == len(
        [m for m in app_members if m not in control]
    )


async def test_a_budget_stops_the_campaign_at_its_last_point_under_50_concurrent_purchases(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock, with_campaign(budget=2_345))
    members = [await make_member(runtime, clock, name=f"M{n}") for n in range(50)]
    token = await partner_token(runtime, clock, issuer)
    results = await asyncio.gather(
        *(
            post_purchase(client, token, purchase_input(m, f"o-{m}", amounts=("100",)))
            for m in members
        )
    )
    given = [campaign_points(r) for r in results]
    assert sum(given) == 2_345  # to the last point, never past it
    assert sorted(given) == [0] * 26 + [45] + [100] * 23
    view = data(await ask(client, RESULTS, admin(issuer, "reports:read"), {"id": "spring"}))
    assert view["campaignResults"]["budgetLeft"] == 0
    assert view["campaignResults"]["audience"]["points"] == 2_345
    assert view["campaignResults"]["audience"]["earned"] == 24  # 23 whole bonuses and the last 45


async def test_an_unknown_campaign_is_refused(client, runtime, clock, issuer):
    await make_program(runtime, clock, with_campaign())
    body = await ask(client, RESULTS, admin(issuer, "reports:read"), {"id": "autumn"})
    [error] = body["errors"]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "NOT_FOUND",
        ["campaignId"],
    )
