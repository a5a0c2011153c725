"""The restore's target: a second, empty database on the test's server, dropped afterwards."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest
from pymongo.errors import PyMongoError

from app.db import Mongo, connect


@pytest.fixture
async def target(mongo_url: str, db_name: str) -> AsyncIterator[Mongo]:
    handle = connect(mongo_url, f"{db_name}_target")
    try:
        yield handle
    finally:
        try:
            await handle.client.drop_database(handle.db.name)
        except PyMongoError as exc:
            # Cleanup only: after a restore process was SIGKILLed mid-write the server can stall
            # long enough for the driver to cancel the drop (seen once in CI); the database is
            # this worker's throwaway, so a drop that did not happen fails nothing the test said.
            warnings.warn(
                f"the restore target {handle.db.name} was not dropped: {exc}", stacklevel=2
            )
        await handle.close()
