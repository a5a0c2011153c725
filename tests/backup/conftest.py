"""The restore's target: a second, empty database on the test's server, dropped afterwards
(unless the test started processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.db import Mongo, connect
from tests.processes import SPAWNED


@pytest.fixture
async def target(mongo_url: str, db_name: str) -> AsyncIterator[Mongo]:
    handle = connect(mongo_url, f"{db_name}_target")
    spawned = SPAWNED.count
    try:
        yield handle
    finally:
        # Not after a test that started processes (a restore it SIGKILLed mid-write): a drop
        # that meets the transaction such a process left open is retried by SecantusDB without
        # end. The database is this worker's throwaway: left as it is, it fails nothing.
        if SPAWNED.count == spawned:
            await handle.client.drop_database(handle.db.name)
        await handle.close()
