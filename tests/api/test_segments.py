"""Segments over HTTP: saved with the condition language over member and account facts, refused
by path before any write, counted exactly as a brute force over the books counts them (points
past their expiry no job took are not counted), paged by keyset in member order with each page as
CSV, audited, and used as the filter of a bulk 清零 that takes exactly the segment's members."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from app.ledger import Rolling, earn, get_balance
from app.segments import service as segment_service
from tests.api.gql import ask, data, make_member, make_program
from tests.api.test_points_admin import admin

SAVE = """mutation($i: SaveSegmentInput!) { saveSegment(input: $i) {
  segment { id name when version } userErrors { code field message } } }"""
DELETE = (
    """mutation($id: String!) { deleteSegment(id: $id) { deleted userErrors { code field } } }"""
)
SIZE = """query($id: String!) { segment(id: $id) { size { members points } } }"""
PAGE = """query($id: String!, $first: Int!, $after: String) { segment(id: $id) {
  members(first: $first, after: $after) { nodes { memberNo tier points } endCursor hasNextPage csv }
} }"""
CLEAR = """mutation($input: ClearPointsInput!) { clearPoints(input: $input) {
  preview { members points } job { id total } userErrors { code field message } } }"""
SCOPES = ("members:read", "members:write", "points:write")

RICH_AND_IDLE = {
    "all": [
        {"fact": "points", "gte": 80},
        {"fact": "tier", "in": ["gold"]},
        {"not": {"fact": "days_since_activity", "lt": 15}},
    ]
}


async def save(client, token: str, **segment: Any) -> dict[str, Any]:
    return data(await ask(client, SAVE, token, {"i": segment}))["saveSegment"]


async def books(runtime, clock, rng: random.Random) -> list[str]:
    """30 members: random tiers, earns at random past days, some of them expired by now without
    the expiry job having run (their points must not count)."""
    ids = []
    for n in range(30):
        member = await make_member(
            runtime, clock, name=f"M{n:02d}", tier=rng.choice(["member", "gold"])
        )
        ids.append(member)
        for k in range(rng.randint(0, 3)):
            days_ago = rng.choice([1, 5, 20, 45, 90])
            at = FrozenClock(clock.now() - timedelta(days=days_ago))
            policy = Rolling(days=10) if rng.random() < 0.3 else None
            await earn(
                runtime.mongo,
                at,
                member_id=member,
                points=rng.choice([40, 80, 150]),
                idempotency_key=f"e{n}:{k}",
                policy=policy,
            )
    return ids


async def expected(runtime, clock, ids: list[str]) -> list[str]:
    """The segment RICH_AND_IDLE worked out by hand from the books, member by member."""
    taken = []
    for member_id in ids:
        member = await runtime.mongo["members"].find_one({"_id": member_id})
        account = await runtime.mongo["accounts"].find_one({"_id": member_id}) or {}
        balance = await get_balance(runtime.mongo, member_id, clock.now())  # exact now
        last = account.get("last_activity_at")
        idle = last is None or (clock.now() - last).days >= 15
        if balance.available >= 80 and member["tier"] == "gold" and idle:
            taken.append(member_id)
    return sorted(taken)


async def test_a_segment_counts_pages_and_exports_exactly_its_members(
    client, runtime, clock, issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_program(runtime, clock)
    ids = await books(runtime, clock, random.Random(5))
    token = admin(issuer, *SCOPES)
    saved = await save(client, token, id="rich-idle", name="Rich and idle", when=RICH_AND_IDLE)
    assert saved["userErrors"] == [] and saved["segment"]["version"] == 1
    assert saved["segment"]["when"] == RICH_AND_IDLE
    want = await expected(runtime, clock, ids)
    assert 2 <= len(want) < 30  # the seed makes a segment worth testing
    size = data(await ask(client, SIZE, token, {"id": "rich-idle"}))["segment"]["size"]
    points = [(await get_balance(runtime.mongo, m, clock.now())).available for m in want]
    assert size == {"members": len(want), "points": sum(points)}

    monkeypatch.setattr(segment_service, "SCAN_LIMIT", 7)  # pages that stop on the scan limit
    numbers = {m["_id"]: m["member_no"] async for m in runtime.mongo["members"].find()}
    seen: list[str] = []
    after = None
    while True:
        page = data(await ask(client, PAGE, token, {"id": "rich-idle", "first": 2, "after": after}))
        members = page["segment"]["members"]
        rows = list(csv.reader(io.StringIO(members["csv"])))
        assert rows[0][:3] == ["member_id", "member_no", "name"]
        assert [row[1] for row in rows[1:]] == [node["memberNo"] for node in members["nodes"]]
        seen += [node["memberNo"] for node in members["nodes"]]
        if not members["hasNextPage"]:
            break
        after = members["endCursor"]
    assert seen == [numbers[m] for m in want]


async def test_a_bulk_clear_by_segment_takes_its_members_only(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    ids = await books(runtime, clock, random.Random(5))
    token = admin(issuer, *SCOPES)
    await save(client, token, id="rich-idle", name="Rich and idle", when=RICH_AND_IDLE)
    want = await expected(runtime, clock, ids)
    assert want
    held = 0
    for member_id in want:
        balance = await get_balance(runtime.mongo, member_id, clock.now())
        held += balance.available + balance.pending + balance.held
    bulk = {"filter": {"segment": "rich-idle"}, "reason": "win-back reset", "idempotencyKey": "s1"}
    dry = data(await ask(client, CLEAR, token, {"input": {**bulk, "dryRun": True}}))["clearPoints"]
    assert dry["preview"] == {"members": len(want), "points": held}
    made = data(await ask(client, CLEAR, token, {"input": bulk}))["clearPoints"]
    assert made["job"]["total"] == len(want)
    missing = data(
        await ask(
            client, CLEAR, token, {"input": {**bulk, "filter": {"segment": "nope"}, "dryRun": True}}
        )
    )["clearPoints"]
    [error] = missing["userErrors"]
    assert (error["code"], error["field"]) == ("VALIDATION", ["input", "filter", "segment"])


async def test_bad_segments_are_refused_by_path_before_any_write(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    token = admin(issuer, *SCOPES)
    for segment, field, message in [
        ({"id": "Bad Id", "name": "x", "when": RICH_AND_IDLE}, "id", "id: String should match"),
        ({"id": "a", "name": "", "when": RICH_AND_IDLE}, "name", "name: String should have"),
        (
            {"id": "a", "name": "x", "when": {"fact": "channel", "eq": "app"}},
            "when",
            "when: a segment reads members and their accounts, not a purchase",
        ),
        (
            {"id": "a", "name": "x", "when": {"fact": "pointz", "gte": 1}},
            "when",
            "when: no fact 'pointz'",
        ),
        (
            {"id": "a", "name": "x", "when": {"all": [{"fact": "points", "gte": "many"}]}},
            "when",
            "when.all.0: points compares with whole numbers",
        ),
    ]:
        refused = await save(client, token, **segment)
        [error] = refused["userErrors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", field]), refused
        assert error["message"].startswith(message), error
    assert await runtime.mongo["segments"].count_documents({}) == 0
    assert await runtime.mongo["audit"].count_documents({"action": "segment.save"}) == 0
    reader = admin(issuer, "members:read")
    denied = await ask(client, SAVE, reader, {"i": {"id": "a", "name": "x", "when": RICH_AND_IDLE}})
    assert [e["extensions"]["code"] for e in denied["errors"]] == ["FORBIDDEN"]
    gone = data(await ask(client, DELETE, token, {"id": "nope"}))["deleteSegment"]
    assert gone == {"deleted": False, "userErrors": [{"code": "NOT_FOUND", "field": ["id"]}]}
