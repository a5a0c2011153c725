"""A page on another site may make a browser send a "simple" request (a form's multipart,
urlencoded or text/plain body) to the API without asking it first: no CORS preflight, so no origin
check. Such a request must run nothing, not even the mutations anyone may call (signUp, logIn,
refreshSession): a multipart request needs a header a form cannot set (GraphQL-Preflight), which
makes the browser ask first, and a token that may upload; any other body must be JSON."""

from __future__ import annotations

import json

import pytest

from app.auth import PrincipalKind
from tests.api.gql import codes, make_program

SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { member { id } userErrors { code } } }"
VARIABLES = {"i": {"phone": "13800138123", "password": "cross-site 1", "name": "Mallory"}}
OPERATIONS = json.dumps({"query": SIGN_UP, "variables": VARIABLES})


@pytest.fixture(autouse=True)
async def program(runtime, clock) -> None:
    await make_program(runtime, clock)


async def members(runtime) -> int:
    return int(await runtime.mongo["members"].count_documents({}))


def form(**headers: str) -> dict:
    """httpx arguments of a multipart sign-up, as a page's <form enctype="multipart/form-data">
    posts it (plus any headers)."""
    return {
        "data": {"operations": OPERATIONS, "map": "{}"},
        "files": {"unused": ("u", b"", "text/plain")},
        "headers": headers,
    }


async def test_a_multipart_request_without_a_preflight_header_runs_nothing(client, runtime) -> None:
    response = await client.post("/graphql", **form())
    assert response.status_code == 400
    assert "GraphQL-Preflight" in response.text
    assert await members(runtime) == 0


async def test_a_multipart_request_needs_a_token_that_may_upload(client, runtime, issuer) -> None:
    anonymous = await client.post("/graphql", **form(**{"graphql-preflight": "1"}))
    assert codes(anonymous.json()) == ["UNAUTHENTICATED"]
    member = issuer.mint(PrincipalKind.MEMBER, "m_1")
    forbidden = await client.post(
        "/graphql", **form(**{"graphql-preflight": "1", "authorization": f"Bearer {member}"})
    )
    assert codes(forbidden.json()) == ["FORBIDDEN"]
    empty = await client.post("/graphql", **form(**{"graphql-preflight": ""}))
    assert empty.status_code == 400
    assert await members(runtime) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        None,
        "application/jsonp",
        "text/application/json",
    ],
)
async def test_a_body_that_is_not_json_runs_nothing(client, runtime, content_type) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"query": SIGN_UP, "variables": VARIABLES})
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert await members(runtime) == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/graphql-response+json"],
)
async def test_json_bodies_are_served(client, runtime, content_type) -> None:
    body = json.dumps({"query": SIGN_UP, "variables": VARIABLES})
    response = await client.post("/graphql", content=body, headers={"content-type": content_type})
    assert response.json()["data"]["signUp"]["userErrors"] == []
    assert await members(runtime) == 1
