"""The largest purchase a partner may post, and one past it: the books stay readable everywhere.

The bounds are a product decision (docs/bounds.md): an entry moves at most MAX_ENTRY_POINTS, an
account's counters stay within MAX_ACCOUNT_POINTS (below GraphQL's 32-bit Int), and reports' sums
are BigInt. A purchase that would earn past them is refused with a typed user error before any
write; every read of the member and every report answers afterwards.
"""

from __future__ import annotations

from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import MAX_ENTRY_POINTS
from app.program.models import Caps
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import PROGRAM, make_program, partner_token, post_purchase, purchase_input

ME = """{ me { balance { available pending held lifetimeEarned nextExpiry { points } }
  expiringPoints(withinDays: 3650) { points }
  history(first: 5) { edges { node { kind points balanceAfter breakdown { points } } } } } }"""
MEMBER = """query($id: ID!) { member(id: $id) { balance { available pending held lifetimeEarned }
  history(first: 5) { edges { node { points balanceAfter } } } } }"""
EXPORT = "mutation($i: ExportMemberInput!) { exportMember(input: $i) { data userErrors { code } } }"
REPORTS = """{ reports {
  liability { points debt netPoints money csv }
  topEarners(from: "2026-01-01", to: "2026-01-31", first: 5) { csv rows { memberId points } }
  pointsFlow(from: "2026-01-01", to: "2026-01-31", by: DAY) { csv rows { issued net } }
  earnByRule(from: "2026-01-01", to: "2026-01-31") { rows { points } }
  byPartner(from: "2026-01-01", to: "2026-01-31") { rows { issued } }
  memberActivity(dormantDays: 30) { active { members points } }
} }"""


async def read_everything(
    client: httpx.AsyncClient, issuer: TokenIssuer, member_id: str
) -> dict[str, Any]:
    admin = issuer.mint(
        PrincipalKind.ADMIN, "ops", scopes=["members:read", "members:write", "reports:read"]
    )
    me = data(await ask(client, ME, member_token(issuer, member_id)))["me"]
    member = data(await ask(client, MEMBER, admin, {"id": to_global_id("Member", member_id)}))
    export = data(
        await ask(client, EXPORT, admin, {"i": {"memberId": to_global_id("Member", member_id)}})
    )["exportMember"]
    assert export["userErrors"] == []
    reports = data(await ask(client, REPORTS, admin))["reports"]
    return {"me": me, "member": member["member"], "export": export, "reports": reports}


async def test_the_largest_purchase_earns_and_one_past_it_is_refused_before_any_write(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    member_id = await make_member(runtime, clock)
    # The test program earns 1 point per money unit: the largest purchase earns the most points
    # an entry may hold.
    largest = purchase_input(member_id, "big-1", amounts=(f"{MAX_ENTRY_POINTS}.00",))
    done = await post_purchase(client, token, largest)
    assert done["userErrors"] == []
    assert done["purchase"]["total"] == MAX_ENTRY_POINTS
    before = await read_everything(client, issuer, member_id)
    assert before["me"]["balance"]["available"] == MAX_ENTRY_POINTS

    past = purchase_input(member_id, "big-2", amounts=(f"{MAX_ENTRY_POINTS + 1}.00",))
    refused = await post_purchase(client, token, past)
    assert refused["purchase"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["POINTS_LIMIT"]
    assert await runtime.mongo["orders"].count_documents({"order_id": "big-2"}) == 0
    # The amount the outside run posted: 3·10^9 points, past 32-bit Int.
    huge = purchase_input(member_id, "big-3", amounts=("3000000000.00",))
    refused = await post_purchase(client, token, huge)
    assert [e["code"] for e in refused["userErrors"]] == ["POINTS_LIMIT"]
    after = await read_everything(client, issuer, member_id)
    assert after == before


async def test_a_purchase_whose_earn_before_a_cap_passes_the_entry_bound_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    """The outside run's 10^12 purchase under a daily cap: it earned the cap's 50,000 points, but
    its breakdown stored the base component as 10^12 and the cap as -(10^12 - 50,000), figures no
    read can show (they came back clamped to ±2^31-1, a breakdown that no longer added up to its
    total). Every component of a breakdown is an entry's points: past the bound the purchase is
    refused before any write, and one just inside it keeps a breakdown that adds up."""
    caps = PROGRAM.earn.model_copy(update={"caps": Caps(per_member_per_day=50_000)})
    await make_program(runtime, clock, PROGRAM.model_copy(update={"earn": caps}))
    token = await partner_token(runtime, clock, issuer)
    member_id = await make_member(runtime, clock)
    for order_id, amount in (("cap-1", "1000000000000"), ("cap-2", f"{MAX_ENTRY_POINTS + 1}")):
        refused = await post_purchase(
            client, token, purchase_input(member_id, order_id, amounts=(amount,))
        )
        assert refused["purchase"] is None, refused
        assert [e["code"] for e in refused["userErrors"]] == ["POINTS_LIMIT"]
        assert refused["userErrors"][0]["field"] == ["input", "lines"]
    assert await runtime.mongo["orders"].count_documents({}) == 0
    assert await runtime.mongo["ledger"].count_documents({}) == 0
    largest = purchase_input(member_id, "cap-3", amounts=(f"{MAX_ENTRY_POINTS}",))
    done = await post_purchase(client, token, largest)
    assert done["userErrors"] == []
    assert done["purchase"]["total"] == 50_000
    assert [c["points"] for c in done["purchase"]["breakdown"]] == [
        MAX_ENTRY_POINTS,
        50_000 - MAX_ENTRY_POINTS,
    ]
    everything = await read_everything(client, issuer, member_id)
    history = everything["me"]["history"]["edges"]
    assert [c["points"] for c in history[0]["node"]["breakdown"]] == [
        MAX_ENTRY_POINTS,
        50_000 - MAX_ENTRY_POINTS,
    ]
