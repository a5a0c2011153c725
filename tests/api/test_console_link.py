"""One-time console links over HTTP: a link opens once (also under a race), within its lifetime,
and gives an admin token with exactly the scopes the CLI granted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from app.clock import FrozenClock
from app.console_links import LINK_LIFETIME, ConsoleGrant, create_link
from app.runtime import Runtime
from tests.api.gql import ask, codes, data

OPEN = """mutation($code: String!) { openConsoleLink(code: $code) {
  accessToken scopes userErrors { code field } } }"""
VERSION = "{ programVersion { version } }"


async def _link(runtime: Runtime, clock: FrozenClock, *scopes: str) -> str:
    grant = ConsoleGrant("ops-link", scopes, 600)
    return await create_link(runtime.mongo, clock, grant, actor="cli:test")


async def test_a_link_opens_once_even_when_two_tabs_race_for_it(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    code = await _link(runtime, clock, "program:read")
    answers = await asyncio.gather(*(ask(client, OPEN, variables={"code": code}) for _ in range(5)))
    opened = [data(answer)["openConsoleLink"] for answer in answers]
    tokens = [each["accessToken"] for each in opened if each["accessToken"]]
    assert len(tokens) == 1, opened
    refused = [each["userErrors"] for each in opened if not each["accessToken"]]
    assert refused == [[{"code": "LINK_INVALID", "field": ["code"]}]] * 4
    assert [each["scopes"] for each in opened if each["accessToken"]] == [["program:read"]]

    assert codes(await ask(client, VERSION, tokens[0])) == []  # the token is accepted
    writing = 'mutation { adjustPoints(input: {memberId: "x", points: 1, reason: "r", idempotencyKey: "k"}) { userErrors { code } } }'
    assert codes(await ask(client, writing, tokens[0])) == ["FORBIDDEN"]  # only what was granted

    opens = await runtime.mongo["audit"].count_documents({"action": "console.link.open"})
    assert opens == 1


async def test_a_link_expires_and_an_unknown_or_oversized_code_is_refused_alike(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    code = await _link(runtime, clock, "program:read")
    clock.advance(LINK_LIFETIME + timedelta(seconds=1))
    for attempt in (code, "no-such-code", "x" * 10_000, ""):
        opened = data(await ask(client, OPEN, variables={"code": attempt}))["openConsoleLink"]
        assert opened["accessToken"] is None
        assert opened["userErrors"] == [{"code": "LINK_INVALID", "field": ["code"]}]
