"""What the messaging tests share: the program (Asia/Shanghai) with its approved SMS template."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.messaging import Channel, EventKind, MessageTemplate, save_template
from app.program import save_program
from tests.api.gql import PROGRAM


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
