"""Tiers over HTTP: check-ins and activities count as qualifying points and upgrade at the
crossing earn; `me { tierProgress tierHistory }` explain where the member stands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.program import CheckIn
from app.worker import tiers
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, member_token
from tests.engagement.api import check_in, make_program, partner_token, record
from tests.engagement.conftest import registered_partners  # noqa: F401 (autouse)
from tests.tiers.programs import program

PROGRESS = """{ me {
  tier { code }
  tierProgress { current { code name } next { code name threshold } qualifyingPoints
                 pointsToNext windowEndsAt }
} }"""

HISTORY = """query($first: Int!, $after: String) { me {
  tierHistory(first: $first, after: $after) {
    edges { cursor node { from { code } to { code name } at reason qualifyingPoints } }
    pageInfo { hasNextPage endCursor }
  }
} }"""


async def test_activity_and_check_in_earns_upgrade_at_the_crossing_and_are_explained(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock, program(check_in=CheckIn(points_by_streak=(5,))))
    member_id = await make_member(runtime, clock)
    ref = {"id": to_global_id("Member", member_id)}
    await record(client, partner_token(issuer), ref, "review", "r1")  # 20
    for _ in range(2):
        await check_in(client, member_token(issuer, member_id))  # 5, then already done
    me = data(await ask(client, PROGRESS, member_token(issuer, member_id)))["me"]
    # The 15 January points leave the window at 14 February 00:00 in Shanghai.
    assert me == {
        "tier": {"code": "member"},
        "tierProgress": {
            "current": {"code": "member", "name": "Member"},
            "next": {"code": "silver", "name": "Silver", "threshold": 100},
            "qualifyingPoints": 25,
            "pointsToNext": 75,
            "windowEndsAt": "2026-02-13T16:00:00.000+00:00",
        },
    }
    clock.advance(timedelta(days=3))
    await record(client, partner_token(issuer), ref, "signup", "s1")  # 100: crosses 100
    me = data(await ask(client, PROGRESS, member_token(issuer, member_id)))["me"]
    assert me["tier"] == {"code": "silver"}
    progress = me["tierProgress"]
    assert (progress["qualifyingPoints"], progress["pointsToNext"]) == (125, 175)
    assert progress["next"]["code"] == "gold"
    for n in range(9):
        clock.advance(timedelta(days=1))
        await record(client, partner_token(issuer), ref, "review", f"r-{n}")
    me = data(await ask(client, PROGRESS, member_token(issuer, member_id)))["me"]
    assert me["tier"] == {"code": "gold"}
    assert me["tierProgress"]["next"] is None and me["tierProgress"]["pointsToNext"] is None


async def test_tier_history_pages_newest_first(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    ref = {"id": to_global_id("Member", member_id)}
    await record(client, partner_token(issuer), ref, "signup", "s1")  # silver at 100
    upgraded_at = clock.now()
    clock.advance(timedelta(days=31))
    await tiers(runtime.mongo, clock)  # back to member
    token = member_token(issuer, member_id)
    page = data(await ask(client, HISTORY, token, {"first": 1}))["me"]["tierHistory"]
    [edge] = page["edges"]
    assert edge["node"] == {
        "from": {"code": "silver"},
        "to": {"code": "member", "name": "Member"},
        "at": clock.now().isoformat(timespec="milliseconds"),
        "reason": "REVIEWED",
        "qualifyingPoints": 0,
    }
    assert page["pageInfo"]["hasNextPage"] is True
    after = page["pageInfo"]["endCursor"]
    page = data(await ask(client, HISTORY, token, {"first": 5, "after": after}))["me"]
    [edge] = page["tierHistory"]["edges"]
    assert edge["node"]["reason"] == "QUALIFIED" and edge["node"]["qualifyingPoints"] == 100
    assert datetime.fromisoformat(edge["node"]["at"]) == upgraded_at.astimezone(UTC)
    assert page["tierHistory"]["pageInfo"]["hasNextPage"] is False
