"""Points whose expiry has passed never count as available: not when a late batch posts them
already expired, and not when the expiry job has not run yet.

A till's batch arrives 60 days late under a 30-day rolling expiry: the EARN is recorded with an
EXPIRE beside it in the same transaction (occurring at the expiry, so a report as of any instant
after it leaves them out) and the member never sees them spendable. Points that expire while the
worker is down are left out of every read (balance, quoteOffset, memberBalance, liability) the
moment their expiry passes, and the job, when it runs, changes none of those figures.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import ExpiryPolicySet, Rolling, expire_due
from app.runtime import Runtime
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import (
    PROGRAM,
    make_program,
    member_ref,
    partner_token,
    post_purchase,
    purchase_input,
)

LATE_PROGRAM = PROGRAM.model_copy(
    update={"expiry": ExpiryPolicySet(default=Rolling(days=30)), "backdate_days": 90}
)
ME = """{ me { balance { available pending held lifetimeEarned nextExpiry { points } }
  history(first: 10) { edges { node { kind points balanceAfter occurredAt } } } } }"""
PARTNER_READS = """query($member: MemberRefInput!) {
  memberBalance(member: $member) { available pending held debt }
  quoteOffset(member: $member, orderAmount: "1000") { points available } }"""
LIABILITY = """{ reports { liability { points netPoints }
  memberActivity(dormantDays: 30) { dormant { members points } active { members points } } } }"""
PREVIEW = """mutation($input: ClearPointsInput!) { clearPoints(input: $input) {
  preview { members points } userErrors { code } } }"""
HOLD = """mutation($input: HoldPointsInput!) { holdPoints(input: $input) {
  hold { points } userErrors { code } } }"""


async def reads(
    client: httpx.AsyncClient, issuer: TokenIssuer, partner: str, member_id: str
) -> dict[str, Any]:
    finance = issuer.mint(PrincipalKind.ADMIN, "finance", scopes=["reports:read", "points:write"])
    me = data(await ask(client, ME, member_token(issuer, member_id)))["me"]
    seen = data(await ask(client, PARTNER_READS, partner, {"member": member_ref(member_id)}))
    reports = data(await ask(client, LIABILITY, finance))["reports"]
    dry_run = {"filter": {"dormantDays": 30}, "dryRun": True, "reason": "r", "idempotencyKey": "p"}
    preview = data(await ask(client, PREVIEW, finance, {"input": dry_run}))["clearPoints"]
    return {
        "balance": me["balance"],
        **seen,
        "liability": reports["liability"],
        "activity": reports["memberActivity"],
        "preview": preview["preview"],
        "history": me["history"],
    }


async def test_a_purchase_posted_after_its_points_expired_is_expired_in_the_same_write(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock, LATE_PROGRAM)
    partner = await partner_token(runtime, clock, issuer)
    member_id = await make_member(runtime, clock)
    late = (clock.now() - timedelta(days=60)).isoformat()
    posted = await post_purchase(client, partner, purchase_input(member_id, "late-1", at=late))
    assert posted["userErrors"] == [] and posted["purchase"]["total"] == 100

    seen = await reads(client, issuer, partner, member_id)
    assert seen["balance"] == {
        "available": 0,
        "pending": 0,
        "held": 0,
        "lifetimeEarned": 100,
        "nextExpiry": None,
    }
    assert seen["memberBalance"]["available"] == 0
    assert seen["quoteOffset"] == {"points": 0, "available": 0}
    assert seen["liability"] == {"points": 0, "netPoints": 0}
    kinds = [(e["node"]["kind"], e["node"]["points"]) for e in seen["history"]["edges"]]
    assert kinds == [("EXPIRE", -100), ("EARN", 100)]  # newest first
    expire = seen["history"]["edges"][0]["node"]
    assert expire["occurredAt"].startswith((clock.now() - timedelta(days=30)).date().isoformat())

    hold = {
        "member": member_ref(member_id),
        "points": 10,
        "orderId": "o-1",
        "idempotencyKey": "h-1",
    }
    refused = data(await ask(client, HOLD, partner, {"input": hold}))["holdPoints"]
    assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert (await expire_due(runtime.mongo, clock)).points == 0  # nothing left for the job


async def test_points_whose_expiry_passed_leave_every_read_before_the_job_runs(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock, LATE_PROGRAM)
    partner = await partner_token(runtime, clock, issuer)
    member_id = await make_member(runtime, clock)
    await post_purchase(
        client, partner, purchase_input(member_id, "now-1", at=clock.now().isoformat())
    )
    before = await reads(client, issuer, partner, member_id)
    assert before["balance"]["available"] == 100
    assert before["liability"]["points"] == 100

    clock.advance(timedelta(days=31))  # past the expiry; the worker is down
    partner = await partner_token(runtime, clock, issuer, name="Till 2")  # a token of today
    # A read is exact at its instant: 0 available, 0 owed, though no job has run.
    stale = await reads(client, issuer, partner, member_id)
    assert stale["balance"]["available"] == 0
    assert stale["balance"]["nextExpiry"] is None
    assert stale["memberBalance"]["available"] == 0
    assert stale["quoteOffset"]["available"] == 0
    assert stale["liability"] == {"points": 0, "netPoints": 0}
    assert stale["activity"]["dormant"] == {"members": 1, "points": 0}
    assert stale["preview"] == {"members": 0, "points": 0}  # a dormant 清零 would take nothing
    assert await runtime.mongo["lots"].count_documents({"status": "available"}) == 1  # unwritten

    run = await expire_due(runtime.mongo, clock)
    assert run.points == 100
    after = await reads(client, issuer, partner, member_id)
    read = ("balance", "memberBalance", "quoteOffset", "liability", "activity", "preview")
    assert {k: after[k] for k in read} == {k: stale[k] for k in read}
