"""Every API test here calls as registered partners (the registry decides what a token may do)."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.runtime import Runtime
from tests.engagement.api import register_test_partners


@pytest.fixture(autouse=True)
async def registered_partners(runtime: Runtime, clock: FrozenClock) -> None:
    await register_test_partners(runtime.mongo, clock)
