"""The reward catalog (积分商城): goods and coupons priced in points."""

from app.rewards.admin import (
    CatalogRefused,
    RewardFields,
    add_coupon_batch,
    cancel_redemption,
    create_reward,
    move_stock,
    update_reward,
    use_coupon,
)
from app.rewards.catalog import get_rewards, list_rewards
from app.rewards.forget import redact_redemptions
from app.rewards.models import Redemption, Reward, RewardKind
from app.rewards.redemption import (
    LimitReached,
    NotEnoughPoints,
    OutOfStock,
    RedemptionRefused,
    get_redemption,
    list_redemptions,
    redeem,
    search_redemptions,
)

__all__ = [
    "CatalogRefused",
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
