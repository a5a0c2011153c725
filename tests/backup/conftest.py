"""The restore's target: a second, empty database on the test's server, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.db import Mongo, connect


@pytest.fixture
async def target(mongo_url: str, db_name: str) -> AsyncIterator[Mongo]:
    handle = connect(mongo_url, f"{db_name}_target")
    try:
        yield handle
    finally:
        await handle.client.drop_database(handle.db.name)
        await handle.close()
