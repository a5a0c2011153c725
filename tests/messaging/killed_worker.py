"""A worker process for the kill test: one pass of app/messaging's sender at a given instant.

`python -m tests.messaging.killed_worker '<json>'` with mongo_url, db_name, now (ISO), and either
push_url and push_secret or sms_url (the fake Dysmsapi). The test kills it mid-delivery."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

import httpx

from app.channels import AliyunSms
from app.clock import FrozenClock
from app.db import connect
from app.messaging import PushGateway, Transports, deliver_due
from app.notifications import GatewayResponse
from tests.channels.fake_aliyun import KEY_ID, SECRET, SIGN


async def main(options: dict[str, str]) -> None:
    clock = FrozenClock(datetime.fromisoformat(options["now"]))
    mongo = connect(options["mongo_url"], options["db_name"])
    async with httpx.AsyncClient(timeout=120) as client:

        async def post(url: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
            response = await client.post(url, content=body, headers=headers)
            return GatewayResponse(response.status_code, response.text)

        transports = Transports()
        if "push_url" in options:
            transports = Transports(
                push=PushGateway(options["push_url"], options["push_secret"].encode(), post)
            )
        else:
            sms = AliyunSms(
                access_key_id=KEY_ID,
                access_key_secret=SECRET,
                clock=clock,
                endpoint=options["sms_url"],
                client=client,
                timeout=120,
            )
            transports = Transports(sms=sms, sms_sign_name=SIGN)
        print("delivering", flush=True)
        await deliver_due(mongo, clock, transports)
    await mongo.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
