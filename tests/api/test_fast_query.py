"""The lean path for queries (graphql_schema/engine/fast_query.py) answers byte for byte as
strawberry's.

Each document is posted twice: once as usual (the lean path answers a clean query), once with
a chunked body of no declared length (which the lean path leaves to strawberry's full path);
the two responses must be identical, and the lean path's counter shows which path ran. The lean
path runs most documents by a compiled plan (graphql_schema/engine/plans.py) instead of
graphql-core's executor, so these comparisons are also the plans' against graphql-core's: data,
errors, their paths and locations, nulls carried up through non-null fields.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from app.config import Environment, Settings
from app.main import create_app
from app.rewards import Reward
from graphql_schema.engine.fast_query import FastQuery
from graphql_schema.engine.view import JifenGraphQL
from graphql_schema.ids import to_global_id
from tests.api.gql import earn_points, make_member, make_program, make_reward, member_token
from tests.faults import fail_point

BALANCE = "{ me { balance { available pending held nextExpiry { points expiresAt } } } }"
EXPIRING = "query($d: Int!) { me { expiringPoints(withinDays: $d) { points expiresAt } } }"
FRAGMENTS = """
query Mine { ...Me }
fragment Me on Query { me { name ... on Member { memberNo balance { ...Numbers } } } }
fragment Numbers on Balance { available lifetimeEarned }"""
TWO_OPERATIONS = "query A { me { name } } query B { program { name } }"

# (document, variables, operationName, authenticated, the answer's error codes or HTTP status)
CASES: list[tuple[str, dict[str, Any] | None, str | None, bool, list[str] | int]] = [
    (BALANCE, None, None, True, []),
    (
        "{ a: me { name } b: me { balance { available } } c: program { name } }",
        None,
        None,
        True,
        [],
    ),
    (FRAGMENTS, None, None, True, []),
    (FRAGMENTS, None, "Mine", True, []),
    (EXPIRING, {"d": 30}, None, True, []),
    (EXPIRING, {"d": -1}, None, True, ["BAD_USER_INPUT"]),  # the resolver refuses it
    (EXPIRING, {"d": "soon"}, None, True, ["BAD_USER_INPUT"]),  # a variable of the wrong type
    (EXPIRING, {}, None, True, ["BAD_USER_INPUT"]),  # a missing variable
    (BALANCE, None, None, False, ["UNAUTHENTICATED"]),
    ('{ member(id: "TWVtYmVyOm0=") { name } }', None, None, True, ["FORBIDDEN"]),
    (TWO_OPERATIONS, None, "B", True, []),
    ("{ __typename program { __typename name } }", None, None, False, []),
    ("{ __schema { queryType { name } } }", None, None, False, []),
    # Left to the full path by both requests: its refusals stay its own.
    (TWO_OPERATIONS, None, None, True, ["BAD_USER_INPUT"]),  # ambiguous
    (TWO_OPERATIONS, None, "C", True, 400),  # no such operation
    ("{ me { nam } }", None, None, True, ["BAD_USER_INPUT"]),  # validation
    ("{ me { name }", None, None, True, ["BAD_USER_INPUT"]),  # syntax
    ("subscription { notifications { id } }", None, None, True, 400),
    (
        'mutation { updateProfile(input: {name: "X"}) { userErrors { code } } }',
        None,
        None,
        True,
        [],
    ),
]
CLEAN = 13  # the first CLEAN cases are answered by the lean path

HISTORY = """query($n: Int!, $after: String) { me { history(first: $n, after: $after) {
  edges { cursor node { id kind points occurredAt description } }
  pageInfo { hasNextPage endCursor } } } }"""
# (document, variables, run by a plan): every one answered by the lean path
PLANNED: list[tuple[str, dict[str, Any] | None, bool]] = [
    (BALANCE, None, True),
    (HISTORY, {"n": 2}, True),
    (HISTORY, {"n": 2, "after": "not-a-cursor"}, True),  # the resolver's error, located
    (HISTORY, {"n": "two"}, False),  # invalid variables: graphql-core reports them
    ("{ me { x: name y: memberNo __typename tier { __typename } } }", None, True),
    ("{ rewards(first: 5) { edges { node { id name pointsPrice } } } }", None, True),
    ("{ me { name name } }", None, False),  # one key selected twice: merged by graphql-core
    ("query($b: Boolean!) { me { name @include(if: $b) } }", {"b": False}, False),
    ('{ node(id: "TWVtYmVyOm0=") { id } }', None, False),  # an interface
    (FRAGMENTS, None, True),
]


def lean_path(app: Starlette) -> FastQuery:
    for route in app.routes:
        if isinstance(route, Route) and isinstance(route.endpoint, JifenGraphQL):
            return route.endpoint.fast_query
    raise AssertionError("no GraphQL view")


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def both_paths(
    app: Starlette, client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response, int]:
    """The usual request, the same body with no declared length, and how many the lean path took."""
    lean = lean_path(app)
    before = lean.answered
    usual = await client.post("/graphql", json=body, headers=headers)
    full = await client.post(
        "/graphql",
        content=chunks(json.dumps(body).encode()),
        headers={**headers, "content-type": "application/json"},
    )
    assert "content-length" not in full.request.headers
    return usual, full, lean.answered - before


def same(usual: httpx.Response, full: httpx.Response) -> None:
    assert usual.status_code == full.status_code
    assert usual.headers["content-type"] == full.headers["content-type"]
    assert usual.content == full.content


async def member_with_points(runtime: Any, clock: Any, issuer: Any) -> str:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock, name="李雷 Li Lei")
    await earn_points(runtime, clock, member_id, 120, "fast-1")
    return str(member_token(issuer, member_id))


@pytest.mark.parametrize(("number", "case"), list(enumerate(CASES)))
async def test_both_paths_answer_alike(app, client, runtime, clock, issuer, number, case) -> None:
    query, variables, operation_name, authenticated, expected = case
    token = await member_with_points(runtime, clock, issuer)
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    headers = {"authorization": f"Bearer {token}"} if authenticated else {}
    usual, full, lean = await both_paths(app, client, body, headers)
    same(usual, full)
    assert lean == (1 if number < CLEAN else 0)
    if isinstance(expected, int):
        assert usual.status_code == expected
    else:
        assert [error["extensions"]["code"] for error in usual.json().get("errors", [])] == expected


@pytest.mark.parametrize(("query", "variables", "planned"), PLANNED)
async def test_plans_answer_as_graphql_core_does(
    app, client, runtime, clock, issuer, query, variables, planned
) -> None:
    token = await member_with_points(runtime, clock, issuer)
    await earn_points(runtime, clock, (await runtime.mongo["members"].find_one({}))["_id"], 5, "k2")
    await make_reward(runtime, Reward(id="r_1", name="Mug", points_price=100))
    body: dict[str, Any] = {"query": query, "variables": variables}
    lean = lean_path(app)
    before = lean.planned
    usual, full, answered = await both_paths(
        app, client, body, {"authorization": f"Bearer {token}"}
    )
    same(usual, full)
    assert answered == 1
    assert lean.planned - before == (1 if planned else 0)


async def test_a_failing_field_among_list_items_answers_as_graphql_core_does(
    app, client, runtime, clock, issuer
) -> None:
    """A stored reward the catalog cannot read fails among good ones: the same nulls, errors,
    paths and locations from the plan as from graphql-core."""
    await runtime.mongo["rewards"].insert_one(
        {"_id": "r_bad", "name": ["not", "text"], "points_price": 5, "active": True}
    )
    await make_reward(runtime, Reward(id="r_good", name="Cup", points_price=9))
    body = {"query": "{ rewards(first: 5) { edges { cursor node { name pointsPrice } } } }"}
    lean = lean_path(app)
    before = lean.planned
    usual, full, answered = await both_paths(app, client, body, {})
    same(usual, full)
    assert (answered, lean.planned - before) == (1, 1)
    errors = usual.json()["errors"]
    assert errors and all(error["path"][0] == "rewards" for error in errors)


async def test_internal_errors_are_masked_and_logged_on_both_paths(
    app, client, runtime, clock, issuer, caplog
) -> None:
    await runtime.mongo["rewards"].insert_one({"_id": "r_bad", "name": "", "active": True})
    body = {"query": "{ rewards(first: 5) { edges { node { name } } } }"}
    with caplog.at_level(logging.ERROR, logger="jifen.graphql"):
        usual, full, lean = await both_paths(app, client, body, {"x-request-id": "req-9"})
    same(usual, full)
    assert lean == 1
    assert usual.json()["errors"][0]["message"] == "Internal server error."
    logged = [r for r in caplog.records if "request req-9" in r.getMessage()]
    assert len(logged) == 2 and all(r.exc_info for r in logged)


async def test_introspection_off_answers_alike(settings: Settings, clock) -> None:
    production = create_app(
        settings.model_copy(update={"env": Environment.PRODUCTION}), clock=clock
    )
    async with production.router.lifespan_context(production):
        transport = httpx.ASGITransport(app=production)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as client:
            refused = {"query": "{ __schema { queryType { name } } }"}
            usual, full, lean = await both_paths(production, client, refused, {})
            same(usual, full)
            assert lean == 0 and "introspection is disabled" in usual.text
            allowed = {"query": "{ program { __typename } }"}
            usual, full, lean = await both_paths(production, client, allowed, {})
            same(usual, full)
            assert lean == 1


async def test_mutations_take_the_full_path_and_count_against_the_limit(
    app, client, runtime, clock, issuer
) -> None:
    token = await member_with_points(runtime, clock, issuer)
    lean = lean_path(app)
    before = lean.answered
    response = await client.post(
        "/graphql",
        json={
            "query": 'mutation { updateProfile(input: {name: "Han Meimei"}) { member { name } } }'
        },
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["updateProfile"]["member"]["name"] == "Han Meimei"
    assert lean.answered == before
    assert await runtime.mongo["rate_limits"].count_documents({}) == 1


async def test_a_node_query_with_a_global_id_variable(app, client, runtime, clock, issuer) -> None:
    token = await member_with_points(runtime, clock, issuer)
    member_id = (await runtime.mongo["members"].find_one({}))["_id"]
    body = {
        "query": "query($id: ID!) { node(id: $id) { id ... on Member { name } } }",
        "variables": {"id": to_global_id("Member", member_id)},
    }
    usual, full, lean = await both_paths(app, client, body, {"authorization": f"Bearer {token}"})
    same(usual, full)
    assert lean == 1


async def test_a_query_past_its_budget_answers_unavailable_and_the_next_one_is_served(
    settings: Settings, clock, runtime, issuer
) -> None:
    """The lean path's budget (graphql_schema/engine/watchdog.py): the account read stalls 3 s in
    the database, the query answers UNAVAILABLE at its 0.5 s budget, and the server goes on."""
    token = await member_with_points(runtime, clock, issuer)
    quick = create_app(settings.model_copy(update={"request_timeout_seconds": 0.5}), clock=clock)
    async with quick.router.lifespan_context(quick):
        transport = httpx.ASGITransport(app=quick)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as client:
            headers = {"authorization": f"Bearer {token}"}
            stall = {"failCommands": ["find"], "blockConnection": True, "blockTimeMS": 3000}
            lean = lean_path(quick)
            async with fail_point(runtime.mongo, {"times": 1}, stall):
                started = time.monotonic()
                stalled = await client.post("/graphql", json={"query": BALANCE}, headers=headers)
                took = time.monotonic() - started
            assert [e["extensions"]["code"] for e in stalled.json()["errors"]] == ["UNAVAILABLE"]
            assert 0.5 <= took < 1.5, took
            assert lean.answered == 1
            served = await client.post("/graphql", json={"query": BALANCE}, headers=headers)
            assert served.json()["data"]["me"]["balance"]["available"] == 120
