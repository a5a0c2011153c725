"""History paging over HTTP: keyset cursors stay exact while new entries keep arriving."""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId

from app.ledger import earn
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, make_program, member_token

PAGE = """query($after: String) { me { history(first: 20, after: $after) {
  edges { cursor node { id points occurredAt } } pageInfo { hasNextPage endCursor } } } }"""


def entry(member_id: str, n: int, at) -> dict:
    """A ledger line as the ledger stores it; written in bulk so the test arranges 1,000 quickly."""
    return {
        "_id": ObjectId(),
        "member_id": member_id,
        "kind": "EARN",
        "points": n + 1,
        "balance_after": 0,
        "occurred_at": at,
        "recorded_at": at,
        "description": f"entry {n}",
        "lots": [],
        "breakdown": [],
    }


async def test_paging_a_thousand_entries_while_new_ones_arrive_has_no_gap_or_duplicate(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    start = clock.now() - timedelta(days=30)
    # Seven entries share each instant, so the (occurredAt, id) tie-break is exercised.
    existing = [entry(member_id, n, start + timedelta(minutes=n // 7)) for n in range(1000)]
    await runtime.mongo["ledger"].insert_many(existing)
    other = await make_member(runtime, clock, name="Other")
    await runtime.mongo["ledger"].insert_many([entry(other, n, start) for n in range(50)])
    token = member_token(issuer, member_id)

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        history = data(await ask(client, PAGE, token, {"after": after}))["me"]["history"]
        seen.extend(edge["node"]["id"] for edge in history["edges"])
        assert len(history["edges"]) <= 20
        pages += 1
        # Between pages the member keeps earning: the newest entries land before the first page.
        clock.advance(timedelta(seconds=1))
        await earn(
            runtime.mongo, clock, member_id=member_id, points=5, idempotency_key=f"live-{pages}"
        )
        if not history["pageInfo"]["hasNextPage"]:
            break
        after = history["pageInfo"]["endCursor"]

    expected = [
        to_global_id("LedgerEntry", str(doc["_id"]))
        for doc in sorted(existing, key=lambda d: (d["occurred_at"], d["_id"]), reverse=True)
    ]
    assert pages == 50
    assert len(seen) == len(set(seen)) == 1000
    assert seen == expected
