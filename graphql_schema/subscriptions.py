"""Subscriptions. `expiryWarnings` keeps the contract's shape; its delivery arrives with issue #5."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from graphql_schema.context import Info
from graphql_schema.errors import ClientError
from graphql_schema.permissions import IsMember


class NotImplementedYet(ClientError):
    code = "NOT_IMPLEMENTED"


@strawberry.type
class ExpiryWarning:
    points: int
    expires_at: datetime
    days_left: int


@strawberry.type
class Subscription:
    @strawberry.subscription(  # type: ignore[untyped-decorator]
        permission_classes=[IsMember],
        description=(
            "Warnings about the member's own points nearing expiry: first those already due inside "
            "the warning window, then each new one as the program issues it."
        ),
    )
    async def expiry_warnings(self, info: Info) -> AsyncGenerator[ExpiryWarning, None]:
        # Delivery (change stream fan-out from `notifications`) is issue #5. Until then the
        # subscription ends at once with a clear error rather than pretending to be quiet.
        raise NotImplementedYet("expiryWarnings is not delivered yet (issue #5)")
        yield  # pragma: no cover - makes this an async generator
