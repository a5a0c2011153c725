"""The worker's `messages` job: routes and sends in one pass, to the dev inbox when nothing is
configured and to the brand's gateway when it is."""

from __future__ import annotations

import threading

import httpx

from app.clock import FrozenClock
from app.config import Settings
from app.db import Mongo
from app.worker.schedule import default_jobs, messages_job
from tests.messaging.test_delivery import PUSH_SECRET, Gateway, new_member, records, warn


async def test_the_job_runs_by_default_and_fills_the_dev_inbox(
    mongo: Mongo, clock: FrozenClock, program: None, settings: Settings
) -> None:
    async with httpx.AsyncClient() as client:
        assert "messages" in {job.name for job in default_jobs(settings, client, client)}
        member_id = await new_member(mongo, clock, phone="+8613800138000")
        await warn(mongo, clock, member_id, 900, days=3)
        await mongo["messages"].delete_many({})  # routed by the job this time
        await mongo["notifications"].update_many({}, {"$set": {"routed_at": None}})
        outcome = await messages_job(settings, client).run(mongo, clock)
    assert outcome.handled == 2  # one notification routed, one SMS sent
    sms = (await records(mongo, member_id))["sms"]
    assert (sms["status"], sms["transport"]) == ("sent", "dev-inbox")


async def test_the_job_pushes_through_the_configured_gateway(
    mongo: Mongo, clock: FrozenClock, program: None, settings: Settings
) -> None:
    gateway = Gateway(clock)
    threading.Thread(target=gateway.httpd.serve_forever, daemon=True).start()
    configured = settings.model_copy(
        update={"push_gateway_url": gateway.url, "push_signing_secret": PUSH_SECRET.decode()}
    )
    try:
        member_id = await new_member(mongo, clock, device="apns-token-job01")
        await warn(mongo, clock, member_id, 900, days=3)
        async with httpx.AsyncClient() as client:
            await messages_job(configured, client).run(mongo, clock)
        push = (await records(mongo, member_id))["push"]
        assert (push["status"], push["transport"]) == ("sent", "push-gateway")
        assert list(gateway.processed) == [push["_id"]]
    finally:
        gateway.httpd.shutdown()
