"""Every report over HTTP for an operator with reports:read: its rows, the same rows as CSV, and
figures recomputed here from the raw documents. Anyone else is refused."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.auth import PrincipalKind
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, make_member, member_token
from tests.partners.api import (
    make_program,
    partner_token,
)
from tests.reports.ledger_story import build_story, end_of, recount, recount_split
from tests.reports.served_story import tell_served_story

LIABILITY = """query($date: Date) { reports { liability(date: $date) {
  asOf points available pending held debt netPoints pointValue money currency programVersion
  csv } } }"""
FLOW = """query($from: Date!, $to: Date!, $by: ReportPeriod!) { reports {
  pointsFlow(from: $from, to: $to, by: $by) { by csv rows { period start end issued redeemed
    expired adjustedIn adjustedOut reversed cleared net entries } } } }"""
SERIES = """query($from: Date!, $to: Date!) { reports { liabilitySeries(from: $from, to: $to) {
  csv days { date liability { points available pending held money pointValue } } } } }"""
OTHERS = """query($from: Date!, $to: Date!) { reports {
  breakage(from: $from, to: $to) { from to issued expired rate csv }
  earnByRule(from: $from, to: $to) { csv rows { rule campaign points rows } }
  byPartner(from: $from, to: $to) { csv rows { partnerId name issued redeemed reversed givenBack
    entries } }
  topEarners(from: $from, to: $to, first: 2) { csv rows { rank memberId points earns } }
  byChannel(from: $from, to: $to) { csv rows { channel issued redeemed reversed entries } }
  memberActivity(dormantDays: 30) { csv dormantDays active { members points }
    dormant { members points } neverActive { members points } }
  redemptionsByReward(from: $from, to: $to) { csv rows { rewardId name redemptions quantity
    points cancelled } }
} }"""
JANUARY = {"from": "2026-01-01", "to": "2026-01-31"}
FIELDS = {
    "liability": "liability { points }",
    "liabilitySeries": 'liabilitySeries(from: "2026-01-01", to: "2026-01-02") { csv }',
    "pointsFlow": 'pointsFlow(from: "2026-01-01", to: "2026-01-02", by: DAY) { csv }',
    "breakage": 'breakage(from: "2026-01-01", to: "2026-01-02") { rate }',
    "earnByRule": 'earnByRule(from: "2026-01-01", to: "2026-01-02") { csv }',
    "byPartner": 'byPartner(from: "2026-01-01", to: "2026-01-02") { csv }',
    "byChannel": 'byChannel(from: "2026-01-01", to: "2026-01-02") { csv }',
    "byStore": 'byStore(from: "2026-01-01", to: "2026-01-02") { csv }',
    "topEarners": 'topEarners(from: "2026-01-01", to: "2026-01-02") { csv }',
    "memberActivity": "memberActivity(dormantDays: 30) { csv }",
    "redemptionsByReward": 'redemptionsByReward(from: "2026-01-01", to: "2026-01-02") { csv }',
}


MEMBER_BY_ID = "query($id: ID!) { member(id: $id) { id } }"
NODE = "query($id: ID!) { node(id: $id) { ... on Reward { name } } }"


@pytest.fixture
def admin(issuer) -> str:
    return finance(issuer)


def finance(issuer) -> str:
    """An operator's token, minted at the clock's now (build_story moves the clock)."""
    return issuer.mint(PrincipalKind.ADMIN, "finance", scopes=["reports:read"])


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def reports(client, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data(await ask(client, query, token, variables))["reports"]
    return result


async def test_the_liability_as_of_three_dates_over_http_equals_the_raw_ledger(
    client, runtime, clock, issuer
) -> None:
    await build_story(runtime.mongo, clock)
    admin = finance(issuer)
    for day in (date(2026, 1, 31), date(2026, 3, 4), date(2026, 5, 19)):
        found = (await reports(client, admin, LIABILITY, {"date": day.isoformat()}))["liability"]
        points, debt, money = await recount(runtime.mongo, end_of(day))
        assert (found["points"], found["debt"], found["money"]) == (points, debt, f"{money:f}")
        [row] = table(found["csv"])
        assert (int(row["points"]), row["money"], row["point_value"]) == (
            points,
            f"{money:f}",
            found["pointValue"],
        )
        split = await recount_split(runtime.mongo, end_of(day))
        assert (found["available"], found["pending"], found["held"]) == split
        assert tuple(int(row[name]) for name in ("available", "pending", "held")) == split
    series = await reports(client, admin, SERIES, {"from": "2026-04-13", "to": "2026-04-21"})
    days = series["liabilitySeries"]["days"]
    rows = table(series["liabilitySeries"]["csv"])
    for day, row in zip(days, rows, strict=True):  # f's and i's windows, g's, h's and more
        split = await recount_split(runtime.mongo, end_of(date.fromisoformat(day["date"])))
        shown = day["liability"]
        assert (shown["available"], shown["pending"], shown["held"]) == split, day["date"]
        assert tuple(int(row[name]) for name in ("available", "pending", "held")) == split
        assert int(row["points"]) == shown["points"] == sum(split)
    assert {day["liability"]["pending"] > 0 for day in days} == {True, False}
    series = await reports(client, admin, SERIES, {"from": "2026-02-28", "to": "2026-03-02"})
    days = series["liabilitySeries"]["days"]
    assert [d["liability"]["pointValue"] for d in days] == ["0.01", "0.015", "0.015"]
    assert [int(r["points"]) for r in table(series["liabilitySeries"]["csv"])] == [
        d["liability"]["points"] for d in days
    ]


async def test_the_points_flow_by_month_over_http_and_as_csv(
    client, runtime, clock, issuer
) -> None:
    await build_story(runtime.mongo, clock)
    admin = finance(issuer)
    variables = {"from": "2026-01-01", "to": "2026-05-31", "by": "MONTH"}
    flow = (await reports(client, admin, FLOW, variables))["pointsFlow"]
    raw: Counter[str] = Counter()
    async for entry in runtime.mongo["ledger"].find({}):
        raw[entry["kind"]] += entry["points"]
    rows = flow["rows"]
    assert [row["period"] for row in rows] == [f"2026-0{m}-01" for m in range(1, 6)]
    assert sum(row["issued"] for row in rows) == raw["EARN"]
    assert sum(row["expired"] for row in rows) == -raw["EXPIRE"]
    assert sum(row["reversed"] for row in rows) == -raw["REVERSAL"]
    assert sum(row["net"] for row in rows) == sum(raw.values())
    assert [int(r["issued"]) for r in table(flow["csv"])] == [row["issued"] for row in rows]


async def test_partner_campaign_earner_member_and_reward_reports(
    client, runtime, clock, issuer, admin
) -> None:
    ann, bo = await tell_served_story(client, runtime, clock, issuer)

    found = await reports(client, admin, OTHERS, JANUARY)
    entries = [entry async for entry in runtime.mongo["ledger"].find({})]
    by_rule: Counter[str] = Counter()
    for entry in entries:
        for line in entry.get("breakdown", []):
            by_rule[line["rule"]] += line["points"]
    rules = {row["rule"]: row["points"] for row in found["earnByRule"]["rows"]}
    assert rules == dict(by_rule) and rules["campaign:double"] > 0
    campaign = next(r for r in found["earnByRule"]["rows"] if r["rule"] == "campaign:double")
    assert campaign["campaign"] == "double"

    earned = {e["member_id"]: e["points"] for e in entries if e["kind"] == "EARN"}
    [partner] = found["byPartner"]["rows"]
    reversed_ = -sum(e["points"] for e in entries if e["kind"] == "REVERSAL")
    assert (partner["name"], partner["issued"], partner["reversed"]) == (
        "Till 1",
        sum(earned.values()),
        reversed_,
    )
    assert reversed_ > 0
    # By channel: every entry of the month under the channel it names, recounted here.
    want: dict[str, dict[str, int]] = {}
    for entry in entries:
        row = want.setdefault(
            entry.get("channel") or "none",
            {"issued": 0, "redeemed": 0, "reversed": 0, "entries": 0},
        )
        row["entries"] += 1
        kind = {"EARN": "issued", "REDEEM": "redeemed", "REVERSAL": "reversed"}.get(entry["kind"])
        if kind is not None:
            row[kind] += abs(entry["points"])
    got = {
        r["channel"]: {k: r[k] for k in ("issued", "redeemed", "reversed", "entries")}
        for r in found["byChannel"]["rows"]
    }
    assert got == want and len(got) >= 2, got
    top = found["topEarners"]["rows"]
    assert [(r["rank"], r["memberId"], r["points"]) for r in top] == [
        (1, to_global_id("Member", bo), earned[bo]),
        (2, to_global_id("Member", ann), earned[ann]),
    ]
    # The ids a report names open the member and the reward, as every other id in the API does.
    reader = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["members:read"])
    opened = data(await ask(client, MEMBER_BY_ID, reader, {"id": top[0]["memberId"]}))
    assert opened["member"]["id"] == top[0]["memberId"]

    held = 0
    async for account in runtime.mongo["accounts"].find({}):
        held += account["available"] + account["pending"] + account["held"]
    activity = found["memberActivity"]
    assert activity["active"] == {"members": 2, "points": held}
    assert activity["dormant"] == activity["neverActive"] == {"members": 0, "points": 0}

    [tote] = found["redemptionsByReward"]["rows"]
    assert tote == {
        "rewardId": to_global_id("Reward", "r_tote"),
        "name": "Tote",
        "redemptions": 1,
        "quantity": 2,
        "points": 200,
        "cancelled": 0,
    }
    reward = data(await ask(client, NODE, admin, {"id": tote["rewardId"]}))["node"]
    assert reward == {"name": "Tote"}
    assert found["breakage"]["issued"] == sum(earned.values())
    assert found["breakage"]["rate"] == "0.0000"
    for name in ("earnByRule", "byPartner", "byChannel", "topEarners", "redemptionsByReward"):
        assert len(table(found[name]["csv"])) == len(found[name]["rows"]), name
    assert [row["group"] for row in table(activity["csv"])] == ["active", "dormant", "never_active"]


@pytest.mark.parametrize("field", sorted(FIELDS))
async def test_members_partners_and_admins_without_the_scope_are_forbidden(
    client, runtime, clock, issuer, field
) -> None:
    await make_program(runtime, clock)
    tokens = {
        "member": member_token(issuer, await make_member(runtime, clock)),
        "partner": await partner_token(runtime, clock, issuer),
        "admin": issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["members:read", "audit:read"]),
    }
    query = f"{{ reports {{ {FIELDS[field]} }} }}"
    for who, token in tokens.items():
        body = await ask(client, query, token)
        assert codes(body) == ["FORBIDDEN"], (who, body)
        assert body["data"] == {"reports": None}
    assert codes(await ask(client, query)) == ["UNAUTHENTICATED"]
    assert "errors" not in await ask(client, query, finance(issuer))


@pytest.mark.parametrize(
    ("field", "argument"),
    [
        ('pointsFlow(from: "2026-02-01", to: "2026-01-01", by: DAY) { csv }', "to"),
        ('pointsFlow(from: "2026-01-01", to: "2027-01-05", by: DAY) { csv }', "to"),
        ('liabilitySeries(from: "0001-01-01", to: "2026-01-01") { csv }', "from"),
        ('topEarners(from: "2026-01-01", to: "2026-01-02", first: 101) { csv }', "first"),
        ('redemptionsByReward(from: "2026-01-01", to: "2026-01-02", first: 0) { csv }', "first"),
        ("memberActivity(dormantDays: 0) { csv }", "dormantDays"),
        ('liability(asOf: "2026-01-01T00:00:00Z", date: "2026-01-01") { csv }', "date"),
    ],
)
async def test_arguments_out_of_bounds_answer_bad_user_input(
    client, runtime, clock, admin, field, argument
) -> None:
    await make_program(runtime, clock)
    body = await ask(client, f"{{ reports {{ {field} }} }}", admin)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == argument


async def test_an_instant_past_the_calendar_is_refused_before_any_report_runs(
    client, runtime, clock, admin
) -> None:
    """The DateTime scalar refuses it (no instant in UTC), for every field that takes one."""
    await make_program(runtime, clock)
    body = await ask(
        client, '{ reports { liability(asOf: "9999-12-31T23:59:59-14:00") { csv } } }', admin
    )
    assert codes(body) == ["BAD_USER_INPUT"] and body["data"] is None
    assert "no instant in UTC" in body["errors"][0]["message"]


async def test_without_a_program_reports_answer_not_configured(client, admin) -> None:
    body = await ask(client, "{ reports { liability { points } } }", admin)
    assert codes(body) == ["NOT_CONFIGURED"]


async def test_money_uses_the_value_in_force_not_the_current_one(
    client, runtime, clock, issuer
) -> None:
    await build_story(runtime.mongo, clock)
    clock.set(clock.now() + timedelta(days=1))
    admin = finance(issuer)
    january = (await reports(client, admin, LIABILITY, {"date": "2026-01-31"}))["liability"]
    assert (january["pointValue"], january["programVersion"]) == ("0.01", 1)
    expected = Decimal("0.01") * january["points"]
    assert Decimal(january["money"]) == expected
