"""What the messaging tests share: the program (Asia/Shanghai) with its approved SMS template, the
fake Dysmsapi, an HTTP client, and the app served by uvicorn on a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from app.clock import FrozenClock
from app.config import Settings
from app.db import Mongo
from app.main import create_app
from app.messaging import Channel, EventKind, MessageTemplate, save_template
from app.program import save_program
from tests.api.gql import PROGRAM
from tests.channels.fake_aliyun import FakeDysmsapi


@pytest.fixture
async def program(mongo: Mongo, clock: FrozenClock) -> None:
    """The program runs in Asia/Shanghai; 09:00 UTC is 17:00 there. Its expiry SMS is Alibaba's
    approved SMS_100001 with the variables name and points."""
    await save_program(mongo, clock, PROGRAM)
    await save_template(
        mongo,
        clock,
        MessageTemplate(
            EventKind.EXPIRY_WARNING,
            Channel.SMS,
            "zh-CN",
            body="{{ name }}，您有 {{ points }} 积分将于 {{ expires_on|date('%m月%d日') }} 过期。",
            sms_template_code="SMS_100001",
            sms_params=("name", "points"),
        ),
    )


@pytest.fixture
def sms_fake(clock: FrozenClock) -> Iterator[FakeDysmsapi]:
    server = FakeDysmsapi(clock)
    with server.running():
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@asynccontextmanager
async def serving(settings: Settings, clock: FrozenClock) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port, its base URL while inside."""
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(app, port=0, lifespan="on", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 30
    while not server.started:
        assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def served(settings: Settings, clock: FrozenClock) -> AsyncIterator[str]:
    """The app served on a real socket: unsubscribe links and the SMS callbacks over HTTP."""
    async with serving(settings, clock) as url:
        yield url
