"""The audit log over HTTP: every admin write leaves one entry, operators with audit:read page and
filter it newest first, nobody else reads it, and nothing in the schema can change it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, earn_points, make_member, member_token
from tests.partners.test_access import REGISTER
from tests.program.configs import demo_config
from tests.program.test_admin_api import update

ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
  entry { points } userErrors { code } } }"""
LOG = """query($first: Int!, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id at actor action target requestId before after note } }
    pageInfo { hasNextPage endCursor } } }"""


async def _adjust(
    client: httpx.AsyncClient, token: str, member: str, points: int, key: str
) -> None:
    body = {
        "query": ADJUST,
        "variables": {
            "input": {
                "memberId": to_global_id("Member", member),
                "points": points,
                "reason": f"r-{key}",
                "idempotencyKey": key,
            }
        },
    }
    answer = await client.post(
        "/graphql",
        json=body,
        headers={"authorization": f"Bearer {token}", "x-request-id": f"req-{key}"},
    )
    assert data(answer.json())["adjustPoints"]["userErrors"] == []


async def _log(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    page: dict[str, Any] = data(await ask(client, LOG, token, {"first": 20, **variables}))
    return page["auditLog"]


async def test_operators_page_and_filter_the_entries_each_write_left(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    one, two = await make_member(runtime, clock), await make_member(runtime, clock, name="Han")
    await earn_points(runtime, clock, one, 100, "e1")
    writer = issuer.mint(PrincipalKind.ADMIN, "ops-1", scopes=["points:write"])
    reader = issuer.mint(PrincipalKind.ADMIN, "auditor", scopes=["audit:read"])
    for n, (member, points) in enumerate([(one, 10), (two, 20), (one, -5)]):
        clock.advance(timedelta(minutes=1))
        await _adjust(client, writer, member, points, f"k{n}")
    await _adjust(client, writer, one, 10, "k0")  # a replay: applied once, audited once

    everything = await _log(client, reader)
    nodes = [edge["node"] for edge in everything["edges"]]
    assert [n["target"] for n in nodes] == [f"member:{one}", f"member:{two}", f"member:{one}"]
    assert [n["requestId"] for n in nodes] == ["req-k2", "req-k1", "req-k0"]
    assert {n["actor"] for n in nodes} == {"admin:ops-1"} and {n["action"] for n in nodes} == {
        "points.adjust"
    }
    assert [n["at"] for n in nodes] == sorted((n["at"] for n in nodes), reverse=True)

    by_target = await _log(client, reader, filter={"target": f"member:{one}"})
    assert [e["node"]["requestId"] for e in by_target["edges"]] == ["req-k2", "req-k0"]
    window = {"from": nodes[1]["at"], "to": nodes[0]["at"]}  # from included, to excluded
    assert [
        e["node"]["requestId"] for e in (await _log(client, reader, filter=window))["edges"]
    ] == ["req-k1"]

    seen, after = [], None
    while True:  # one at a time: every entry once, in order
        page = await _log(client, reader, first=1, after=after)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [n["id"] for n in nodes]


async def test_a_filter_on_two_indexes_or_a_bad_cursor_or_instant_is_bad_user_input(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    reader = issuer.mint(PrincipalKind.ADMIN, "auditor", scopes=["audit:read"])
    bad = [
        {"filter": {"actor": "admin:x", "action": "points.adjust"}},
        {"filter": {"target": "x" * 201}},
        {"filter": {"from": "2026-01-01T00:00:00"}},
        {"after": "bm90LWEtY3Vyc29y"},
        {"first": 101},
    ]
    for variables in bad:
        body = await ask(client, LOG, reader, {"first": 20, **variables})
        assert codes(body) == ["BAD_USER_INPUT"], variables


@pytest.mark.parametrize("kind", ["member", "partner", "admin without audit:read"])
async def test_only_audit_readers_read_the_log(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, kind: str
) -> None:
    member = await make_member(runtime, clock)
    token = {
        "member": member_token(issuer, member),
        "partner": issuer.mint(PrincipalKind.PARTNER, "p1", scopes=["audit:read"]),
        "admin without audit:read": issuer.mint(
            PrincipalKind.ADMIN, "ops", scopes=["points:write"]
        ),
    }[kind]
    assert codes(await ask(client, LOG, token, {"first": 5})) == ["FORBIDDEN"]


async def test_the_schema_offers_no_way_to_change_an_entry(client: httpx.AsyncClient) -> None:
    query = "{ __schema { mutationType { fields { name } } } }"
    names = [
        f["name"] for f in data(await ask(client, query))["__schema"]["mutationType"]["fields"]
    ]
    assert names and not [name for name in names if "audit" in name.lower()]


async def test_program_changes_and_partner_registrations_are_audited_once(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    admin = issuer.mint(
        PrincipalKind.ADMIN, "ops-9", scopes=["program:write", "partners:write", "audit:read"]
    )
    for _ in range(2):  # the replay changes and audits nothing
        body = await update(client, admin, demo_config(), "k-program", note="launch")
        assert data(body)["updateProgram"]["userErrors"] == []
        registered = await ask(
            client,
            REGISTER,
            admin,
            {"input": {"name": "Till", "scopes": ["points:earn"], "idempotencyKey": "k-partner"}},
        )
        partner = data(registered)["registerPartner"]["partner"]["id"]
    program = await _log(client, admin, filter={"action": "program.update"})
    assert [
        (e["node"]["actor"], e["node"]["note"], e["node"]["after"]["version"])
        for e in program["edges"]
    ] == [("admin:ops-9", "launch", 1)]
    partners = await _log(client, admin, filter={"action": "partner.register"})
    assert [(e["node"]["actor"], e["node"]["after"]) for e in partners["edges"]] == [
        ("admin:ops-9", {"name": "Till", "scopes": ["points:earn"]})
    ]
    assert partners["edges"][0]["node"]["target"].startswith("partner:")
    assert partner
