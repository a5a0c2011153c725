"""The partner API's refusals: each carries the facts a client needs, and nothing was changed.

`code` names the API's UserErrorCode and `field` the input at fault; the GraphQL layer maps them
in one table (graphql_schema/partners.py), never by catching each in a resolver.
"""

from __future__ import annotations


class PartnerRefused(Exception):
    code = "INVALID_INPUT"
    field: tuple[str, ...] | None = None

    def __init__(self, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class InvalidPartnerInput(PartnerRefused):
    """A value breaks its rule (a length, a range, a missing choice)."""


class PartnerNotFound(PartnerRefused):
    code = "NOT_FOUND"


class PartnerInactive(Exception):
    """The token's partner is not registered or not active: the caller is refused (FORBIDDEN)."""


class MemberNotFound(PartnerRefused):
    code = "NOT_FOUND"
    field = ("input", "member")


class MemberSuspended(PartnerRefused):
    """A suspended (or erased) member can neither earn nor spend."""

    code = "MEMBER_SUSPENDED"
    field = ("input", "member")


class OrderNotFound(PartnerRefused):
    """No such order of this partner (another partner's order is not found either)."""

    code = "NOT_FOUND"
    field = ("input", "orderId")


class OrderOfAnotherMember(PartnerRefused):
    """The order id is already another member's (posted, held or paid for with their points):
    one member's points never pay for, nor come back through, another member's order."""

    field = ("input", "member")

    def __init__(self, field: tuple[str, ...] | None = None) -> None:
        super().__init__("this order id is another member's order", field)


class HoldNotFound(PartnerRefused):
    code = "NOT_FOUND"
    field = ("input", "holdId")


class HoldNotActive(PartnerRefused):
    code = "HOLD_NOT_ACTIVE"
    field = ("input", "holdId")


class IdempotencyConflict(PartnerRefused):
    """The same order id, refund id or idempotency key was used for a different request."""

    code = "IDEMPOTENCY_CONFLICT"


class OverRefund(PartnerRefused):
    """A refund asks back more of a line than was bought (or than is left to refund)."""

    code = "OVER_REFUND"

    def __init__(self, line_id: str, left: str, asked: str, index: int) -> None:
        super().__init__(
            f"line {line_id}: {asked} asked, {left} left to refund",
            ("input", "lines", str(index)),
        )
        self.line_id = line_id
        self.left = left
        self.asked = asked


class NotEnoughPoints(PartnerRefused):
    code = "INSUFFICIENT_POINTS"
    field = ("input", "points")

    def __init__(self, available: int, required: int) -> None:
        super().__init__(f"{required} points needed, {available} available")
        self.available = available
        self.required = required


class PointsLimit(PartnerRefused):
    """The purchase would earn more points than one entry may hold (app.bounds)."""

    code = "POINTS_LIMIT"
    field = ("input", "lines")


class OffsetNotOffered(PartnerRefused):
    """The program does not let members pay with points."""

    code = "NOT_CONFIGURED"
