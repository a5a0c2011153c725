"""`jifen messages` lists the dev inbox: what each member would have received, and why not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Rolling, earn
from app.members import create_member
from app.messaging import Transports, deliver_due
from app.notifications import issue_expiry_warnings
from tests.messaging.test_delivery import new_member, warn
from tests.test_cli import jifen


async def test_the_dev_inbox_lists_each_members_messages_and_why_one_was_suppressed(
    mongo: Mongo,
    mongo_url: str,
    db_name: str,
    clock: FrozenClock,
    program: None,
    tmp_path: Path,
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    other = await new_member(mongo, clock, phone="+8613900139000", device="apns-token-cli1")
    for who in (member_id, other):
        await warn(mongo, clock, who, 1200, days=3)
    await deliver_due(mongo, clock, Transports())

    listed = jifen(mongo_url, db_name, tmp_path, "messages", "--member", "+8613800138000")
    assert listed.returncode == 0, listed.stderr
    assert f"{member_id} sms expiry_warning: sent via dev-inbox" in listed.stdout
    assert f"{member_id} push expiry_warning: suppressed (consent)" in listed.stdout
    assert "王小明，您有 1200 积分" in listed.stdout and other not in listed.stdout

    every = jifen(mongo_url, db_name, tmp_path, "messages", "--json")
    rows = [json.loads(line) for line in every.stdout.splitlines()]
    assert {(r["member_id"], r["channel"], r["status"]) for r in rows} >= {
        (other, "push", "sent"),
        (member_id, "sms", "sent"),
    }
    missing = jifen(mongo_url, db_name, tmp_path, "messages", "--retry", rows[0]["id"])
    assert missing.returncode == 1 and "not failed" in missing.stdout


async def test_send_runs_the_workers_job_by_hand(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    """On the real clock (the command's): an e-mail, which no quiet hours hold back."""
    now = FrozenClock(datetime.now(UTC))
    member = await create_member(mongo, now, name="韩梅梅", tier="member", email="han@example.com")
    await earn(
        mongo, now, member_id=member.id, points=300, idempotency_key="e1", policy=Rolling(days=3)
    )
    assert await issue_expiry_warnings(mongo, now) == 1

    sent = jifen(mongo_url, db_name, tmp_path, "messages", "--send")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == {"handled": 2}  # one notification routed, one e-mail sent
    listed = jifen(mongo_url, db_name, tmp_path, "messages", "--member", member.id)
    assert f"{member.id} email expiry_warning: sent via dev-inbox" in listed.stdout
    assert jifen(mongo_url, db_name, tmp_path, "messages", "--send").stdout.strip() == (
        '{"handled": 0}'
    )
