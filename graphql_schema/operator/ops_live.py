"""Live numbers for the operator console: how many expiry warnings were issued today."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.notifications import warnings_today
from app.program import current_program
from graphql_schema.context import Info
from graphql_schema.permissions import admin_scope


async def warnings_issued_today(info: Info) -> AsyncGenerator[int, None]:
    runtime = info.context.runtime
    zone = (await current_program(runtime.mongo)).zone
    counts = warnings_today(runtime.mongo, runtime.hub, runtime.clock, zone)
    try:
        async for count in counts:
            yield count
    finally:
        await counts.aclose()


warnings_issued_today_field = strawberry.subscription(
    resolver=warnings_issued_today,
    extensions=admin_scope("reports:read"),
    description="Operators: the number of expiry warnings issued today in the program's time "
    "zone, now and again as warnings are issued (admin scope reports:read).",
)
