"""The reward catalog (积分商城): goods and coupons priced in points."""

from app.rewards.addresses import (
    MAX_ADDRESSES,
    SavedAddress,
    delete_address,
    get_address,
    list_addresses,
    save_address,
)
from app.rewards.admin import (
    CHANGEABLE,
    RewardFields,
    add_coupon_batch,
    cancel_redemption,
    check_cash_price,
    create_reward,
    move_stock,
    update_reward,
    use_coupon,
)
from app.rewards.cash import confirm_payment, fail_payment, refund_payment, release_unpaid
from app.rewards.catalog import get_rewards, list_rewards
from app.rewards.errors import (
    CatalogRefused,
    InvalidAddress,
    LimitReached,
    NotEnoughPoints,
    OutOfStock,
    PaymentRefused,
    RedemptionRefused,
)
from app.rewards.forget import redact_redemptions
from app.rewards.fulfilment import (
    ADDRESS_FIELDS,
    CSV_COLUMNS,
    TrackingUpload,
    check_address,
    ship_from_csv,
    update_redemption,
)
from app.rewards.models import (
    Redemption,
    RedemptionStatus,
    Reward,
    RewardKind,
    ShippingAddress,
)
from app.rewards.redemption import (
    get_redemption,
    list_redemptions,
    redeem,
    search_redemptions,
)

__all__ = [
    "PaymentRefused",
    "check_cash_price",
    "confirm_payment",
    "fail_payment",
    "release_unpaid",
    "refund_payment",
    "MAX_ADDRESSES",
    "SavedAddress",
    "delete_address",
    "get_address",
    "list_addresses",
    "save_address",
    "ADDRESS_FIELDS",
    "CSV_COLUMNS",
    "TrackingUpload",
    "ship_from_csv",
    "ShippingAddress",
    "check_address",
    "update_redemption",
    "CHANGEABLE",
    "RedemptionStatus",
    "CatalogRefused",
    "InvalidAddress",
    "LimitReached",
    "NotEnoughPoints",
    "OutOfStock",
    "Redemption",
    "RedemptionRefused",
    "Reward",
    "RewardFields",
    "RewardKind",
    "add_coupon_batch",
    "cancel_redemption",
    "create_reward",
    "get_redemption",
    "get_rewards",
    "list_redemptions",
    "list_rewards",
    "move_stock",
    "redact_redemptions",
    "redeem",
    "search_redemptions",
    "update_reward",
    "use_coupon",
]
