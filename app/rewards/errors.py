"""Refusals of redeeming and of running the catalog: each says which rule, with the facts that
explain it; nothing was changed. What the API calls them is graphql_schema.refusals' business."""

from __future__ import annotations


class RedemptionRefused(Exception):
    """A redemption refused; nothing was changed."""


class InvalidQuantity(RedemptionRefused):
    """The quantity is out of range, or more than one unit of a coupon or voucher."""


class RewardNotFound(RedemptionRefused):
    pass


class RewardUnavailable(RedemptionRefused):
    """The reward is inactive, outside its window, or above the member's tier."""


class OutOfStock(RedemptionRefused):
    def __init__(self, available: int, requested: int) -> None:
        super().__init__(f"{requested} requested, {available} left")
        self.available = available
        self.requested = requested


class LimitReached(RedemptionRefused):
    def __init__(self, limit: int, redeemed: int) -> None:
        super().__init__(f"at most {limit} per member; {redeemed} already redeemed")
        self.limit = limit
        self.redeemed = redeemed


class NotEnoughPoints(RedemptionRefused):
    def __init__(self, available: int, required: int) -> None:
        super().__init__(f"{required} points needed, {available} available")
        self.available = available
        self.required = required


class IdempotencyKeyReused(RedemptionRefused):
    """The member's key was used for another redemption."""


class InvalidAddress(RedemptionRefused):
    """A shipping address's field out of its bound, or an address the reward needs missing (or
    given for one that does not ship). `field` is the path: ("shipping_address", "postal_code")."""

    def __init__(self, message: str, field: tuple[str, ...]) -> None:
        super().__init__(message)
        self.field = field


class AddressBookFull(InvalidAddress):
    """The member's address book holds its most addresses already."""


class AddressMissing(InvalidAddress):
    """No address by that id in the member's own book."""


class CatalogRefused(Exception):
    """An operator's catalog request refused; nothing changed. `field` names the request value
    at fault (snake_case), when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RewardMissing(CatalogRefused):
    pass


class Missing(CatalogRefused):
    """A redemption, coupon code or partner named in the input does not exist (for the caller)."""


class StockTooLow(CatalogRefused):
    """The stock would go below zero."""


class DuplicateCodes(CatalogRefused):
    """Coupon codes repeated in the batch, or existing already."""


class CouponUsed(CatalogRefused):
    """The coupon was used already: it cannot be used again, nor its redemption cancelled."""


class PointsLimit(CatalogRefused):
    """The points given back would take the member's account past its bound (app.bounds)."""


class KeyReused(CatalogRefused):
    """The idempotency key was used for another request (or the redemption is cancelled already)."""


class IllegalTransition(CatalogRefused):
    """A redemption cannot move from its status to the one asked (app/rewards/fulfilment.py)."""

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"a {current} redemption cannot become {wanted}", "status")
        self.current = current
        self.wanted = wanted


class PaymentRefused(CatalogRefused):
    """A points + cash payment cannot be confirmed (paid already by another payment, released,
    its window passed), or a paid redemption's payment cannot fail."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "redemption_id")


class RefundTooLarge(CatalogRefused):
    """A cash refund past what was paid and not refunded yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "amount")
