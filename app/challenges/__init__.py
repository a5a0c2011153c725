"""Challenges and badges: goals in a window, members' progress, rewards once per window."""

from app.challenges.service import (
    Badge,
    Progress,
    advance,
    advance_streak,
    member_badges,
    member_progress,
    streak_reward_due,
    window_of,
)

__all__ = [
    "Badge",
    "Progress",
    "advance",
    "advance_streak",
    "member_badges",
    "member_progress",
    "streak_reward_due",
    "window_of",
]
