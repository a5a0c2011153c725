"""The reward catalog (积分商城): goods and coupons priced in points."""
