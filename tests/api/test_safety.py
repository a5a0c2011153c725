"""Abusive documents are refused before anything runs; validation is cached; errors are masked."""

from __future__ import annotations

import logging

import pytest

from graphql_schema.engine.safety import (
    CACHED_CHARS,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_REPEATS,
    documents,
    validations,
)
from tests.api.gql import ask, codes, make_member, make_program, member_token


def messages(body) -> list[str]:
    return [error["message"] for error in body.get("errors", [])]


@pytest.fixture
async def token(runtime, clock, issuer) -> str:
    await make_program(runtime, clock)
    return member_token(issuer, await make_member(runtime, clock))


async def test_a_document_fifty_levels_deep_is_refused(client, token, runtime) -> None:
    query = "{ me " + "{ me " * 49 + "{ name }" + " }" * 50
    body = await ask(client, query, token)
    assert body["data"] is None
    assert f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}" in messages(body)


async def test_depth_twelve_is_allowed(client, token) -> None:
    # me(1) redemptions(2) edges(3) node(4) reward(5) name(6): real queries are far from the limit.
    query = "{ me { redemptions(first: 1) { edges { node { reward { name } } } } } }"
    assert "errors" not in await ask(client, query, token)


async def test_depth_counts_through_fragments(client, token) -> None:
    # Each fragment adds one level: 13 of them nest 13 deep, though no selection set is.
    fragments = " ".join(f"fragment F{n} on Query {{ me {{ ...F{n + 1} }} }}" for n in range(13))
    body = await ask(
        client, f"{{ ...F0 }} {fragments} fragment F13 on Query {{ __typename }}", token
    )
    assert body["data"] is None
    assert f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}" in messages(body)


@pytest.mark.timeout(10)  # before shape.py the depth limiter walked 2^30 spreads and never ended
async def test_a_fragment_spread_twice_per_level_for_thirty_levels_is_refused(client) -> None:
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(30))
    body = await ask(client, f"query {{ ...F0 }} {chain} fragment F30 on Query {{ __typename }}")
    assert body["data"] is None
    assert messages(body) == [
        f"'anonymous' selects more than {MAX_FIELDS} fields once its fragments are expanded."
    ]


async def test_aliases_count_every_place_a_fragment_is_spread(client, token) -> None:
    five = " ".join(f"a{n}: name" for n in range(5))
    spreads = " ".join(f"m{n}: me {{ ...Names }}" for n in range(4))
    body = await ask(client, f"{{ {spreads} }} fragment Names on Member {{ {five} }}", token)
    assert messages(body) == [f"24 aliases found. Allowed: {MAX_ALIASES}"]


async def test_a_fragment_reused_in_several_places_is_fine(client, token) -> None:
    query = (
        "{ me { ...Who } a: me { ...Who } rewards(first: 2) { edges { node { ...Price } } } }"
        " fragment Who on Member { name tier { name } } fragment Price on Reward { pointsPrice }"
    )
    assert "errors" not in await ask(client, query, token)


async def test_a_thousand_aliases_are_refused_before_execution(client, token, runtime) -> None:
    query = "{ " + " ".join(f"a{n}: program {{ name }}" for n in range(1000)) + " }"
    body = await ask(client, query, token)
    assert body["data"] is None
    # 6,000 tokens: the parser stops at the token limit before the alias rule even runs.
    assert messages(body) == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]


async def test_more_aliases_than_allowed_are_refused(client, token) -> None:
    query = "{ " + " ".join(f"a{n}: program {{ name }}" for n in range(MAX_ALIASES + 1)) + " }"
    body = await ask(client, query, token)
    assert body["data"] is None
    assert messages(body) == [f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"]
    allowed = "{ " + " ".join(f"a{n}: program {{ name }}" for n in range(MAX_ALIASES)) + " }"
    assert "errors" not in await ask(client, allowed, token)


def repeated(path: str) -> str:
    return f"'{path}' is selected more than {MAX_REPEATS} times in one place once fragments are expanded."


async def test_one_response_key_selected_more_than_allowed_in_one_place_is_refused(
    client, token
) -> None:
    # 495 of these (8 KB) kept graphql-core's OverlappingFieldsCanBeMerged busy for a second.
    body = await ask(client, "{" + " program { name }" * (MAX_REPEATS + 1) + " }")
    assert body["data"] is None
    assert messages(body) == [repeated("program")]
    assert codes(body) == ["BAD_USER_INPUT"]
    allowed = await ask(client, "{" + " program { name }" * MAX_REPEATS + " }")
    assert "errors" not in allowed


async def test_repeats_count_through_fragments_inline_fragments_and_nesting(client, token) -> None:
    # Four `me`, each with three `name`, select me.name twelve times.
    nested = "{" + " me { name name name }" * 4 + " }"
    assert messages(await ask(client, nested, token)) == [repeated("me.name")]
    fragments = " ".join(f"fragment F{n} on Query {{ p: program {{ name }} }}" for n in range(6))
    spreads = " ".join(f"...F{n}" for n in range(6))
    mixed = f"{{ {spreads} ... on Query {{ {spreads} }} }} {fragments}"
    assert messages(await ask(client, mixed, token)) == [repeated("p")]
    fine = "{" + " me { name name name }" * 3 + " }"
    assert "errors" not in await ask(client, fine, token)


async def test_a_fragment_no_operation_spreads_is_bounded_too(client, token) -> None:
    # graphql-core validates every fragment, spread or not.
    unused = "fragment F on Query {" + " program { name }" * 400 + " }"
    assert messages(await ask(client, "{ __typename } " + unused)) == [repeated("program")]


@pytest.mark.timeout(10)
async def test_fragments_that_expand_to_nothing_are_not_walked_forever(client) -> None:
    # 2^30 spreads ending in an unknown fragment: no fields to count, so a budget of steps stops
    # the walk.
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(30))
    body = await ask(client, f"{{ ...F0 }} {chain} fragment F30 on Query {{ ...Nope }}")
    assert messages(body) == [
        "The document has too many selections once its fragments are expanded."
    ]


async def test_more_than_two_thousand_tokens_are_refused_while_parsing(client, token) -> None:
    query = "{ program { " + "name " * 2000 + "} }"
    body = await ask(client, query, token)
    assert body["data"] is None
    assert messages(body) == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]


async def test_a_one_megabyte_query_is_refused_before_parsing(client, token) -> None:
    query = "{ program { name } } # " + "x" * (1024 * 1024)
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 413


async def test_two_operations_without_an_operation_name_run_neither(client, token) -> None:
    document = "query A { program { name } } query B { me { name } }"
    response = await client.post("/graphql", json={"query": document})
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "operation name" in body["errors"][0]["message"]
    chosen = await client.post(
        "/graphql",
        json={"query": document, "operationName": "B"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert chosen.json() == {"data": {"me": {"name": "Li Lei"}}}


async def test_batched_requests_are_refused(client, token) -> None:
    response = await client.post(
        "/graphql", json=[{"query": "{ program { name } }"}, {"query": "{ program { name } }"}]
    )
    assert response.status_code == 400
    assert "Batching is not enabled" in response.text


async def test_errors_suggest_no_field_names(client, token) -> None:
    body = await ask(client, "{ me { nam } }", token)
    assert messages(body) == ["Cannot query field 'nam' on type 'Member'."]
    enum = await ask(
        client,
        "query($k: [LedgerEntryKind!]) { me { history(first: 1, kinds: $k) { edges { cursor } } } }",
        token,
        {"k": ["EARNN"]},
    )
    assert enum["errors"] and all("Did you mean" not in m for m in messages(enum))


async def test_repeated_documents_hit_the_validation_cache(client, token) -> None:
    query = "{ me { name balance { available } } }"
    await ask(client, query, token)
    misses = validations.misses
    for _ in range(3):
        assert "errors" not in await ask(client, query, token)
    # Never validated again: answered from the validation cache, or before it from the lean
    # query path's own cache of validated documents (engine/fast_query.py).
    assert validations.misses == misses


async def test_internal_errors_are_masked_and_logged_with_the_request_id(
    client, token, runtime, caplog
) -> None:
    # A reward document the model cannot read: an internal error, not the client's.
    await runtime.mongo["rewards"].insert_one({"_id": "r_bad", "name": "", "active": True})
    with caplog.at_level(logging.ERROR, logger="jifen.graphql"):
        response = await client.post(
            "/graphql",
            json={"query": "{ rewards(first: 5) { edges { node { name } } } }"},
            headers={"x-request-id": "req-123"},
        )
    body = response.json()
    assert messages(body) == ["Internal server error."]
    assert "ValidationError" not in response.text
    assert any("request req-123" in record.getMessage() for record in caplog.records)


async def test_the_caches_hold_valid_documents_up_to_their_size(client, token) -> None:
    # Documents differing only in whitespace each parse anew: 512 of them at the token limit held
    # 3.8 million objects that each full garbage collection walked (2.7 s).
    query = "{" + " program { name }" * MAX_REPEATS + " }"
    for n in range(40):
        assert "errors" not in await ask(client, query + " " * (4000 + n), token)
    assert 0 < documents.size <= CACHED_CHARS
    assert 0 < validations.size <= CACHED_CHARS
    refused = "{" + " program { name }" * (MAX_REPEATS + 1) + " " * 500 + " }"
    assert messages(await ask(client, refused, token)) == [repeated("program")]
    assert documents.get(refused, None) is None
