"""What the channel tests share: one HTTP client per test, as the service shares one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.channels.tls import Certificate, self_signed


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))
