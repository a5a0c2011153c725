"""Purchases count towards tiers: the crossing purchase upgrades at once; a refund lowers the
qualifying points and leaves the tier to the worker's review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.ledger import ExpiryPolicySet, Rolling
from app.members import get_member
from app.members.tiers import TIER_SINCE, upgrade_tier_since
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import (
    PROGRAM,
    fresh_token,
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


PREVIEW = """query($input: RecordPurchaseInput!) { previewEarn(input: $input) { total } }"""


async def test_a_backdated_purchase_earns_at_the_tier_held_when_it_happened(
    client, runtime, clock, issuer
) -> None:
    """Issue 20: a member upgraded yesterday posts last week's purchase: the old tier's rate and
    expiry, not gold's; today's purchase earns gold's."""
    gold_expiry = ExpiryPolicySet(default=Rolling(days=365), by_tier={"gold": Rolling(days=730)})
    await make_program(runtime, clock, PROGRAM.model_copy(update={"expiry": gold_expiry}))
    member = await make_member(runtime, clock)
    till = await partner_token(runtime, clock, issuer)
    await post_purchase(client, till, purchase_input(member, "big", amounts=("10000",)))
    assert (await get_member(runtime.mongo, member)).tier == "gold"
    clock.advance(timedelta(days=1))
    till = await fresh_token(runtime, issuer)
    last_week = purchase_input(member, "late", at="2026-01-09T08:00:00Z")
    preview = data(await ask(client, PREVIEW, till, {"input": last_week}))["previewEarn"]
    late = await post_purchase(client, till, last_week)
    assert preview["total"] == late["purchase"]["total"] == 100  # Member's 1×, not Gold's 1.5×
    today = await post_purchase(
        client, till, purchase_input(member, "now", at="2026-01-16T08:00:00Z")
    )
    assert today["purchase"]["total"] == 150
    expiries = {lot["amount"]: lot["expires_at"] async for lot in runtime.mongo["lots"].find({})}
    assert expiries[100] == datetime(2027, 1, 9, 8, tzinfo=UTC)  # 365 days from its purchase
    assert expiries[150] == datetime(2028, 1, 16, 8, tzinfo=UTC)  # gold's 730


async def test_members_upgraded_before_tier_since_was_kept_get_it_once_at_start_up(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    till = await partner_token(runtime, clock, issuer)
    await post_purchase(client, till, purchase_input(member, "big", amounts=("10000",)))
    upgraded_at = (await get_member(runtime.mongo, member)).tier_since
    assert upgraded_at == clock.now().replace(microsecond=0)
    await runtime.mongo["members"].update_one({"_id": member}, {"$unset": {"tier_since": ""}})
    await runtime.mongo["meta"].delete_one({"_id": TIER_SINCE})  # as written by an older version
    assert await upgrade_tier_since(runtime.mongo) == 1
    assert await upgrade_tier_since(runtime.mongo) == 0  # marked: later starts read one document
    assert (await get_member(runtime.mongo, member)).tier_since == upgraded_at
    clock.advance(timedelta(days=1))
    till = await fresh_token(runtime, issuer)
    late = await post_purchase(
        client, till, purchase_input(member, "late", at="2026-01-09T08:00:00Z")
    )
    assert late["purchase"]["total"] == 100
