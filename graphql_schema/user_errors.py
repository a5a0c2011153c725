"""Expected failures of mutations: the UserError interface, its codes and one type per error."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class UserErrorCode(Enum):
    INVALID_INPUT = "INVALID_INPUT"
    LINK_INVALID = "LINK_INVALID"  # a console link unknown, already used or expired
    VALIDATION = "VALIDATION"  # a configuration refused; `field` is the path of the value at fault
    NOT_FOUND = "NOT_FOUND"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    LIMIT_REACHED = "LIMIT_REACHED"
    REWARD_UNAVAILABLE = "REWARD_UNAVAILABLE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PHONE_TAKEN = "PHONE_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    RATE_LIMITED = "RATE_LIMITED"
    MEMBER_SUSPENDED = "MEMBER_SUSPENDED"
    MEMBER_ERASED = "MEMBER_ERASED"
    DUPLICATE_CODES = "DUPLICATE_CODES"
    COUPON_USED = "COUPON_USED"
    DRAW_CLOSED = "DRAW_CLOSED"
    OVER_REFUND = "OVER_REFUND"
    HOLD_NOT_ACTIVE = "HOLD_NOT_ACTIVE"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    ACTIVITY_UNKNOWN = "ACTIVITY_UNKNOWN"
    ACTIVITY_LIMIT_REACHED = "ACTIVITY_LIMIT_REACHED"
    POINTS_LIMIT = "POINTS_LIMIT"  # more points than one entry or one account may hold
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"  # a redemption cannot move to the status asked
    PAYMENT_REFUSED = "PAYMENT_REFUSED"  # points + cash: paid already, released, window passed
    ADDRESS_BOOK_FULL = "ADDRESS_BOOK_FULL"  # a member's address book holds 10 already


@strawberry.interface(
    description="An expected failure of a mutation, returned in its payload (never as a top-level error)."
)
class UserError:
    code: UserErrorCode
    message: str
    field: list[str] | None = strawberry.field(
        default=None, description="Path to the input field at fault, if one is."
    )


@strawberry.type(description="Any other expected failure; `code` says which.")
class GenericUserError(UserError):
    pass


@strawberry.type
class InsufficientPointsError(UserError):
    available: int = strawberry.field(description="Points spendable now.")
    required: int = strawberry.field(description="Points the request needed.")


@strawberry.type
class OutOfStockError(UserError):
    available: int = strawberry.field(description="Units left.")


@strawberry.type
class LimitReachedError(UserError):
    limit: int = strawberry.field(description="Most units one member may redeem.")
    redeemed: int = strawberry.field(description="Units this member has already redeemed.")


@strawberry.type(description="Too many attempts: try again after `retryAfterSeconds`.")
class RateLimitedError(UserError):
    retry_after_seconds: int


def user_error(code: UserErrorCode, message: str, *field: str) -> GenericUserError:
    return GenericUserError(code=code, message=message, field=list(field) or None)


ALL_ERROR_TYPES = (
    GenericUserError,
    InsufficientPointsError,
    OutOfStockError,
    LimitReachedError,
    RateLimitedError,
)
