"""The events beside the ledger's: points.expiring with each expiry warning, coupon.issued and
coupon.used, import.finished. Each is in the event log with its payload, written with its change,
and reaches an endpoint subscribed to it (a real receiver verifying the signatures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.clock import FrozenClock
from app.db import Mongo
from app.event_log import EVENTS
from app.importer import UploadedFile, run_due_import, start_import
from app.ledger import Rolling, earn
from app.notifications import issue_expiry_warnings
from app.program import save_program
from app.rewards import Reward, RewardKind, redeem, use_coupon
from tests.api.gql import PROGRAM
from tests.webhooks.receiver import Receiver, receiving
from tests.webhooks.test_delivery import FAST, _endpoint, pump

COFFEE = Reward(
    id="r_coffee",
    name="Coffee",
    category="food",
    kind=RewardKind.COUPON,
    points_price=300,
    coupon_validity_days=30,
)


async def logged(mongo: Mongo, type: str) -> list[dict[str, Any]]:
    """The events of a type, whether still in the log or fanned out to the archive."""
    found = await mongo[EVENTS].find({"type": type}).to_list()
    found += await mongo["webhook_events"].find({"type": type}).to_list()
    return found


async def delivered(mongo: Mongo, receiver: Receiver, types: list[str], count: int) -> list[dict]:
    async def arrived() -> bool:
        return len(receiver.accepted) >= count

    await pump(mongo, FAST, arrived, within=60)
    assert receiver.bad_signatures == 0
    return [r.body for r in receiver.accepted if r.body["type"] in types]


async def test_each_expiry_warning_logs_points_expiring_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    with receiving(Receiver()) as receiver:
        await _endpoint(mongo, receiver, ["points.expiring"])
        await earn(
            mongo,
            clock,
            member_id="m1",
            points=1200,
            idempotency_key="e1",
            policy=Rolling(days=5),
        )
        assert await issue_expiry_warnings(mongo, clock) == 1
        assert await issue_expiry_warnings(mongo, clock) == 0  # a rerun: no warning, no event
        [found] = await logged(mongo, "points.expiring")
        warning = await mongo["notifications"].find_one({"kind": "expiry_warning"})
        assert warning is not None
        expires = clock.now() + timedelta(days=5)
        assert found["member_id"] == "m1"
        assert found["data"] == {
            "points": 1200,
            "expires_at": warning["expires_at"].isoformat(timespec="milliseconds"),
            "days_left": 5,
            "lead_days": 7,
            "notification_id": str(warning["_id"]),
        }
        assert warning["expires_at"] >= expires.replace(hour=0, minute=0) - timedelta(days=1)
        # two days on, the 1-day lead applies once more: a second warning, a second event
        clock.advance(timedelta(days=4, hours=1))
        assert await issue_expiry_warnings(mongo, clock) == 1
        assert sorted(e["data"]["lead_days"] for e in await logged(mongo, "points.expiring")) == [
            1,
            7,
        ]
        bodies = await delivered(mongo, receiver, ["points.expiring"], 2)
        assert [b["data"]["lead_days"] for b in bodies] == [7, 1]
        assert bodies[0]["member_id"] == "m1" and bodies[0]["version"] == 1


async def test_a_coupon_logs_issued_with_its_redemption_and_used_at_the_till(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await mongo["rewards"].insert_one(COFFEE.model_dump(by_alias=True, mode="python"))
    with receiving(Receiver()) as receiver:
        await _endpoint(mongo, receiver, ["coupon.issued", "coupon.used"])
        await earn(mongo, clock, member_id="m1", points=1000, idempotency_key="e1")
        redemption = await redeem(
            mongo, clock, member_id="m1", reward_id="r_coffee", quantity=1, idempotency_key="k1"
        )
        assert redemption.coupon_code is not None
        [issued] = await logged(mongo, "coupon.issued")
        expires = (clock.now() + timedelta(days=30)).astimezone(UTC)
        assert issued["member_id"] == "m1"
        assert issued["data"] == {
            "redemption_id": redemption.id,
            "reward_id": "r_coffee",
            "voucher_partner_id": None,
            "expires_at": expires.isoformat(timespec="milliseconds"),
        }
        assert redemption.coupon_code not in str(issued)  # the code is what a till accepts

        clock.advance(timedelta(hours=2))
        await use_coupon(
            mongo, clock, redemption.coupon_code, partner_id="p_cafe", actor="partner:p_cafe"
        )
        [used] = await logged(mongo, "coupon.used")
        assert used["partner_id"] == "p_cafe"
        assert used["data"]["used_by_partner_id"] == "p_cafe"
        assert used["occurred_at"] == clock.now()
        bodies = await delivered(mongo, receiver, ["coupon.issued", "coupon.used"], 2)
        assert [b["type"] for b in bodies] == ["coupon.issued", "coupon.used"]
        assert bodies[1]["partner_id"] == "p_cafe"


async def test_an_import_job_logs_import_finished_with_its_counts(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await save_program(mongo, clock, PROGRAM)
    members = (
        "legacy_id,phone,name,email,birthday,tier,joined_at\n"
        "L1,13800138001,Zhang San,,,,\n"
        "L2,not-a-phone,Li Si,,,,\n"
    )
    balances = "legacy_id,points,earned_at,expires_at\nL1,500,,\n"
    with receiving(Receiver()) as receiver:
        await _endpoint(mongo, receiver, ["import.finished"])
        job, _ = await start_import(
            mongo,
            clock,
            members=UploadedFile("members.csv", members.encode()),
            balances=UploadedFile("balances.csv", balances.encode()),
            dry_run=False,
            actor="ops",
            idempotency_key="up-1",
        )
        assert await logged(mongo, "import.finished") == []  # queued: not ended yet
        finished = await run_due_import(mongo, clock, owner="w1")
        assert finished is not None and finished.status.value == "done"
        [found] = await logged(mongo, "import.finished")
        assert found["member_id"] is None
        counts = found["data"]["counts"]
        assert counts == finished.summary and counts["members_imported"] == 1
        assert counts["errors"] >= 1  # L2's phone
        assert found["data"]["job_id"] == job.id and found["data"]["status"] == "done"
        assert found["occurred_at"] == datetime.fromisoformat(
            clock.now().isoformat(timespec="milliseconds")
        )
        [body] = await delivered(mongo, receiver, ["import.finished"], 1)
        assert body["data"]["counts"] == counts and body["member_id"] is None
