"""The member mutation limit: a sliding minute, counted atomically, refused with RATE_LIMITED."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.api.gql import ask, codes, data, make_member, make_program, member_token

UPDATE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { member { name } userErrors { code } }
}"""
RENAME = {"input": {"name": "Li Lei"}}


@pytest.fixture
async def token(runtime, clock, issuer) -> str:
    await make_program(runtime, clock)
    return member_token(issuer, await make_member(runtime, clock, name="Li Lei"))


async def rename(client, token: str, times: int) -> list[list[str]]:
    """`times` parallel updateProfile calls; the error codes of each, successes first."""
    answers = await asyncio.gather(*(ask(client, UPDATE, token, RENAME) for _ in range(times)))
    return sorted(codes(answer) for answer in answers)


async def test_concurrent_first_mutations_of_a_window_never_fail(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    tokens = [
        member_token(issuer, await make_member(runtime, clock, name=f"Member {n}"))
        for n in range(6)
    ]
    for _ in range(4):
        clock.advance(timedelta(minutes=2))  # every burst is its members' first in the window
        calls = [ask(client, UPDATE, token, RENAME) for token in tokens for _ in range(12)]
        answers = await asyncio.gather(*calls)
        assert [codes(answer) for answer in answers] == [[]] * len(calls)


async def test_at_most_the_limit_passes_in_any_minute_across_its_boundary(
    client, clock, token
) -> None:
    clock.set(clock.now().replace(second=59))
    assert await rename(client, token, 60) == [[]] * 60
    clock.advance(timedelta(seconds=1))  # a new calendar minute: a fixed window would reset here
    assert await rename(client, token, 5) == [["RATE_LIMITED"]] * 5
    clock.advance(timedelta(seconds=58))
    limited = await ask(client, UPDATE, token, RENAME)
    assert codes(limited) == ["RATE_LIMITED"]
    assert limited["errors"][0]["extensions"]["retryAfterSeconds"] == 1
    clock.advance(timedelta(seconds=1))  # a full minute after the sixty
    assert await rename(client, token, 60) == [[]] * 60
    assert await rename(client, token, 1) == [["RATE_LIMITED"]]


async def test_refused_mutations_do_not_use_up_the_minute(client, clock, token) -> None:
    assert await rename(client, token, 30) == [[]] * 30
    clock.advance(timedelta(seconds=30))
    assert await rename(client, token, 40) == [[]] * 30 + [["RATE_LIMITED"]] * 10
    clock.advance(
        timedelta(seconds=30)
    )  # the first thirty leave the window, the refused never entered it
    assert await rename(client, token, 30) == [[]] * 30


async def test_each_mutation_field_of_a_document_counts(client, clock, token) -> None:
    twice = """mutation { a: updateProfile(input: {name: "A"}) { userErrors { code } }
      b: updateProfile(input: {name: "B"}) { userErrors { code } } }"""
    for _ in range(30):
        assert data(await ask(client, twice, token))
    assert codes(await ask(client, UPDATE, token, RENAME)) == ["RATE_LIMITED"]


async def test_queries_cost_no_rate_limit_write(client, runtime, token) -> None:
    for _ in range(5):
        assert data(await ask(client, "{ me { name } }", token))
    assert await runtime.mongo["rate_limits"].count_documents({}) == 0
