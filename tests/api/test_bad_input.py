"""Bad input is the client's mistake: HTTP 400 or BAD_USER_INPUT, never a 500 or a masked
internal error with a traceback in the log."""

from __future__ import annotations

import logging

import pytest

from tests.api.gql import ask, codes, make_member, make_program, member_token

NOT_AN_OBJECT = [b"null", b"42", b"[]", b'"x"', b"true", b"1.5"]


@pytest.fixture
async def token(runtime, clock, issuer) -> str:
    await make_program(runtime, clock)
    return member_token(issuer, await make_member(runtime, clock))


@pytest.fixture
def errors_logged(caplog):
    caplog.set_level(logging.ERROR)
    yield caplog
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("body", NOT_AN_OBJECT)
async def test_a_json_body_that_is_not_an_object_is_a_400(client, body, errors_logged) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "body", [b'{"query": "{ program { name } }", "x": "\xff\xfe"}', b"\xff\xfe\xfd"]
)
async def test_a_body_that_is_not_utf8_is_a_400(client, body, errors_logged) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"query": 42},
        {"query": None},
        {"query": "{ program { name } }", "variables": [1]},
        {"query": "{ program { name } }", "variables": "x"},
        {"query": "{ program { name } }", "operationName": 7},
        {"query": "{ program { name } }", "extensions": "x"},
    ],
)
async def test_a_request_with_fields_of_the_wrong_type_is_a_400(
    client, body, errors_logged
) -> None:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 400, response.text


async def test_a_variable_of_the_wrong_type_is_bad_user_input(client, token, errors_logged) -> None:
    query = "query($n: Int!) { rewards(first: $n) { edges { cursor } } }"
    for value in (1.5, "ten", 2**40, None, [1], {"a": 1}):
        body = await ask(client, query, token, {"n": value})
        assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"], (value, body)


@pytest.mark.parametrize(
    "literal", ["1" * 5000, "-" + "9" * 5000, "1" * 30, "1e400", "1." + "5" * 5000]
)
async def test_a_huge_number_literal_is_bad_user_input(
    client, token, literal, errors_logged
) -> None:
    body = await ask(client, f"{{ rewards(first: {literal}) {{ edges {{ cursor }} }} }}", token)
    assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"], body


async def test_a_subscription_over_post_is_refused(client, token, errors_logged) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "subscription { expiryWarnings { points } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400, response.text
