"""The event log is written in the transaction of the change it describes: one event per ledger
entry (with the member's seq) and per hold opened or released, none for a transaction that
aborted, and a batch claimed in the members' order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.event_log import EVENTS, append, claim_order, event
from app.ledger import hold, release, spend
from tests.ledger.conftest import earn_points, key

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def _events(mongo: Mongo, member_id: str) -> list[dict]:
    return await mongo[EVENTS].find({"member_id": member_id}).sort("seq", 1).to_list()


async def test_each_ledger_entry_logs_one_event_with_the_members_seq(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m1", 500)
    await spend(mongo, clock, member_id="m1", points=200, idempotency_key=key())
    found = await _events(mongo, "m1")
    assert [(e["type"], e["seq"], e["data"]["points"]) for e in found] == [
        ("points.earned", 1, 500),
        ("points.spent", 2, -200),
    ]
    entries = await mongo["ledger"].find({"member_id": "m1"}).sort("seq", 1).to_list()
    assert [e["_id"] for e in found] == [f"ledger:{entry['_id']}" for entry in entries]
    assert all(e["v"] == 1 for e in found)
    assert found[0]["occurred_at"].microsecond % 1000 == 0


async def test_a_hold_opened_and_released_logs_held_then_released(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_points(mongo, clock, "m2", 100)
    held = await hold(
        mongo, clock, member_id="m2", points=40, ttl=timedelta(minutes=5), idempotency_key=key()
    )
    await release(mongo, clock, hold_id=held.id)
    types = [e["type"] for e in await mongo[EVENTS].find({"member_id": "m2"}).to_list()]
    assert types == ["points.earned", "points.held", "points.released"]


async def test_an_event_of_an_aborted_transaction_is_never_logged(mongo: Mongo) -> None:
    class Abort(Exception):
        pass

    async def work(session):  # type: ignore[no-untyped-def]
        await append(
            mongo,
            session,
            "member.updated",
            "m3",
            {"fields": ["name"]},
            key="k-aborted",
            occurred_at=NOW,
        )
        raise Abort

    with pytest.raises(Abort):
        await mongo.transaction(work)
    assert await mongo[EVENTS].count_documents({"member_id": "m3"}) == 0


def test_a_claimed_batch_orders_a_members_ledger_events_by_seq() -> None:
    now = NOW
    late_rerun = event("points.spent", "m", {}, key="a", occurred_at=now, seq=2)
    first = event("points.earned", "m", {}, key="b", occurred_at=now + timedelta(seconds=1), seq=1)
    profile = event("member.updated", "m", {}, key="c", occurred_at=now + timedelta(seconds=2))
    other = event("member.created", "n", {}, key="d", occurred_at=now)
    ordered = claim_order([profile, late_rerun, other, first])
    mine = [e["_id"] for e in ordered if e["member_id"] == "m"]
    assert mine == ["b", "a", "c"]


def test_docs_events_md_documents_every_event_type_with_its_version_and_schema() -> None:
    import json
    from pathlib import Path

    from app.webhooks import EVENT_TYPES

    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    for name, (version, _, schema) in EVENT_TYPES.items():
        assert f"### {name}\n\nVersion {version}." in text, name
        assert json.dumps(schema, indent=2, ensure_ascii=False) in text, name


async def test_a_sign_up_logs_member_created_with_the_member(mongo: Mongo, clock) -> None:
    from app.members import create_member

    member = await create_member(
        mongo, clock, name="Han Meimei", tier="member", phone="+8613800000001"
    )
    found = await mongo[EVENTS].find_one({"_id": f"member.created:{member.id}"})
    assert found is not None and found["type"] == "member.created"
    assert found["data"] == {"member_no": member.member_no, "tier": "member"}
    assert "phone" not in str(found)  # no personal data in an event
