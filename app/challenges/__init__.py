"""Challenges and badges: goals in a window, members' progress, rewards once per window."""

from app.challenges.service import (
    Badge,
    Progress,
    advance,
    member_badges,
    member_progress,
    window_of,
)

__all__ = ["Badge", "Progress", "advance", "member_badges", "member_progress", "window_of"]
