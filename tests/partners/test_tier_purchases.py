"""Purchases count towards tiers: the crossing purchase upgrades at once; a refund lowers the
qualifying points and leaves the tier to the worker's review."""

from __future__ import annotations

from app.members.service import get_member
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import (
    make_program,
    partner_token,
    post_purchase,
    post_refund,
    purchase_input,
)

PROGRESS = "{ me { tier { code } tierProgress { qualifyingPoints pointsToNext } } }"


async def test_the_purchase_that_crosses_the_threshold_upgrades_and_a_refund_lowers_progress(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)  # gold at 10,000 qualifying points
    member = await make_member(runtime, clock)
    till = await partner_token(runtime, clock, issuer)
    first = await post_purchase(client, till, purchase_input(member, "o-1", amounts=("9000",)))
    assert first["purchase"]["total"] == 9000
    assert (await get_member(runtime.mongo, member)).tier == "member"
    second = await post_purchase(client, till, purchase_input(member, "o-2", amounts=("1000",)))
    assert second["purchase"]["total"] == 1000  # earned at the member's tier before the upgrade
    assert (await get_member(runtime.mongo, member)).tier == "gold"

    refund = {"orderId": "o-2", "refundId": "r-1", "lines": [{"lineId": "L1", "quantity": 1}]}
    assert (await post_refund(client, till, refund))["refund"]["pointsReversed"] == 1000
    me = data(await ask(client, PROGRESS, member_token(issuer, member)))["me"]
    assert me["tierProgress"]["qualifyingPoints"] == 9000
    assert me["tier"]["code"] == "gold"  # the worker's review decides a downgrade
