"""Fault injection on the test server: configureFailPoint (it runs with --enable-test-commands)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.db import Mongo


@asynccontextmanager
async def fail_point(mongo: Mongo, mode: Any, data: dict[str, Any]) -> AsyncIterator[None]:
    """Make the server fail the commands `data` names while the block runs, then switch it off."""
    await mongo.client.admin.command(
        {"configureFailPoint": "failCommand", "mode": mode, "data": data}
    )
    try:
        yield
    finally:
        await mongo.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
