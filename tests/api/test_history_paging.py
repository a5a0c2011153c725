"""History paging over HTTP: cursors stay exact while new entries keep arriving, with or without a filter."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from app.ledger import earn, spend
from graphql_schema.ids import to_global_id
from graphql_schema.member.ledger import HISTORY
from graphql_schema.relay import INSTANT, OBJECT_ID, Cursor
from tests.api.gql import ask, codes, data, make_member, make_program, member_token, seed_history

PAGE = """query($first: Int!, $after: String, $kinds: [LedgerEntryKind!]) {
  me { history(first: $first, after: $after, kinds: $kinds) {
    edges { cursor node { id kind points } } pageInfo { hasNextPage endCursor } } } }"""


async def every_page(client, token, first: int, kinds=None, between=None) -> tuple[list[dict], int]:
    """Follow the cursors to the end; `between` runs after each page."""
    seen: list[dict] = []
    after = None
    pages = 0
    while True:
        variables = {"first": first, "after": after, "kinds": kinds}
        history = data(await ask(client, PAGE, token, variables))["me"]["history"]
        assert len(history["edges"]) <= first
        seen.extend(edge["node"] for edge in history["edges"])
        pages += 1
        if between is not None:
            await between(pages)
        if not history["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = history["pageInfo"]["endCursor"]


async def test_paging_a_thousand_entries_while_new_ones_arrive_has_no_gap_or_duplicate(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    await seed_history(runtime, clock, member_id, 1000)
    other = await make_member(runtime, clock, name="Other")
    await seed_history(runtime, clock, other, 50)
    expected = [
        to_global_id("LedgerEntry", str(doc["_id"]))
        async for doc in runtime.mongo["ledger"].find({"member_id": member_id}).sort("seq", -1)
    ]

    async def earn_more(pages: int) -> None:
        # Between pages the member keeps earning: the newest entries land before the first page.
        clock.advance(timedelta(seconds=1))
        await earn(
            runtime.mongo, clock, member_id=member_id, points=5, idempotency_key=f"live-{pages}"
        )

    token = member_token(issuer, member_id)
    seen, pages = await every_page(client, token, 20, between=earn_more)
    assert pages == 50
    assert len(expected) == len({node["id"] for node in seen}) == 1000
    assert [node["id"] for node in seen] == expected


async def test_a_kinds_filter_pages_exactly_however_sparse_the_kind(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    await seed_history(runtime, clock, member_id, 300)  # EARN 1..300: no REDEEM among them
    for n in range(5):
        await spend(runtime.mongo, clock, member_id=member_id, points=1, idempotency_key=f"s{n}")
        for m in range(7):
            key = f"e{n}-{m}"
            await earn(runtime.mongo, clock, member_id=member_id, points=1, idempotency_key=key)
    everything = [
        (to_global_id("LedgerEntry", str(doc["_id"])), doc["kind"])
        async for doc in runtime.mongo["ledger"].find({"member_id": member_id}).sort("seq", -1)
    ]
    token = member_token(issuer, member_id)
    for kinds, sizes in [
        (["REDEEM"], (1, 2, 100)),  # 5 among 340: the range widens over 300 skipped entries
        (["EXPIRE"], (1, 100)),  # none at all
        (["EARN", "REDEEM"], (7, 100)),
    ]:
        wanted = [entry_id for entry_id, kind in everything if kind in kinds]
        for first in sizes:
            seen, pages = await every_page(client, token, first, kinds)
            assert [node["id"] for node in seen] == wanted, (kinds, first)
            assert pages == max(1, -(-len(wanted) // first)), (kinds, first)


async def test_a_cursor_that_is_not_a_sequence_number_is_bad_input(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    await seed_history(runtime, clock, member_id, 3)
    token = member_token(issuer, member_id)
    old_style = Cursor("history", (INSTANT, OBJECT_ID)).encode(
        clock.now(), "65f0c0ffee0000000000beef"
    )
    for after in (old_style, *(_raw_cursor("history", v) for v in (0, -1, 2**70, "3"))):
        body = await ask(client, PAGE, token, {"first": 2, "after": after})
        assert codes(body) == ["BAD_USER_INPUT"], after
    last = HISTORY.encode(2)  # the entry numbered 2: the page below it is entry 1
    page = data(await ask(client, PAGE, token, {"first": 2, "after": last}))["me"]["history"]
    assert [edge["node"]["points"] for edge in page["edges"]] == [1]
    assert page["pageInfo"]["hasNextPage"] is False


def _raw_cursor(*parts: object) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
