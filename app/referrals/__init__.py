"""Referrals: members' codes and links, sign-ups that name a code, rewards once the referred
member's first purchase has matured."""

from app.referrals.service import (
    InvalidReferralCode,
    ReferralRun,
    ReferralStats,
    link_referral,
    qualify_referral,
    referral_code_of,
    referral_report,
    referrer_of,
    settle_referrals,
)

__all__ = [
    "InvalidReferralCode",
    "ReferralRun",
    "ReferralStats",
    "link_referral",
    "qualify_referral",
    "referral_code_of",
    "referral_report",
    "referrer_of",
    "settle_referrals",
]
