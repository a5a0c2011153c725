"""The partner API's refusals: each carries the facts a client needs, and nothing was changed.

`field` is the path of the request value at fault (snake_case names and line indexes); what the
API calls each refusal is decided in one table, graphql_schema.refusals.
"""

from __future__ import annotations


class PartnerRefused(Exception):
    field: tuple[str, ...] | None = None

    def __init__(self, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class InvalidPartnerInput(PartnerRefused):
    """A value breaks its rule (a length, a range, a missing choice)."""


class PartnerInactive(Exception):
    """The token's partner is not registered or not active: the caller is refused (FORBIDDEN)."""


class MemberNotFound(PartnerRefused):
    field = ("member",)


class OrderNotFound(PartnerRefused):
    """No such order of this partner (another partner's order is not found either)."""

    field = ("order_id",)


class OrderOfAnotherMember(PartnerRefused):
    """The order id is already another member's (posted, held or paid for with their points):
    one member's points never pay for, nor come back through, another member's order."""

    field = ("member",)

    def __init__(self, field: tuple[str, ...] | None = None) -> None:
        super().__init__("this order id is another member's order", field)


class HoldNotFound(PartnerRefused):
    field = ("hold_id",)


class HoldNotActive(PartnerRefused):
    field = ("hold_id",)


class IdempotencyConflict(PartnerRefused):
    """The same order id, refund id or idempotency key was used for a different request."""


class OverRefund(PartnerRefused):
    """A refund asks back more of a line than was bought (or than is left to refund)."""

    def __init__(self, line_id: str, left: str, asked: str, index: int) -> None:
        super().__init__(
            f"line {line_id}: {asked} asked, {left} left to refund",
            ("lines", str(index)),
        )
        self.line_id = line_id
        self.left = left
        self.asked = asked


class NotEnoughPoints(PartnerRefused):
    field = ("points",)

    def __init__(self, available: int, required: int) -> None:
        super().__init__(f"{required} points needed, {available} available")
        self.available = available
        self.required = required


class PointsLimit(PartnerRefused):
    """The purchase would earn more points than one entry may hold (app.bounds)."""

    field = ("lines",)


class OffsetNotOffered(PartnerRefused):
    """The program does not let members pay with points."""
