"""Qualifying points and the tier they give: pure arithmetic over per-local-day buckets. No I/O.

A member's qualifying points are the points earned less the points refunded over the program's
rolling window (`tier_rules.window_days`, counted in local days of the program's time zone). They
are kept as one bucket per local day, so the window's sum never needs the member's ledger: the
window holds the `window_days` local days ending today, and a bucket leaves it at the start of
the local day `window_days` after its own (its `leaves_at`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from app.program import Program, Tier


def first_day(program: Program, now: datetime) -> date:
    """The oldest local day still inside the window at `now`."""
    return program.local_date(now) - timedelta(days=program.tier_rules.window_days - 1)


def leaves_at(program: Program, day: date) -> datetime:
    """The UTC instant the bucket of local `day` leaves the window."""
    local = datetime.combine(day + timedelta(days=program.tier_rules.window_days), time())
    return local.replace(tzinfo=program.zone, fold=0).astimezone(UTC)


def in_window(program: Program, buckets: Mapping[str, int], now: datetime) -> dict[str, int]:
    """The buckets still inside the window at `now` (keys are ISO local dates)."""
    start = first_day(program, now).isoformat()
    return {day: points for day, points in buckets.items() if day >= start}


def qualifying_points(program: Program, buckets: Mapping[str, int], now: datetime) -> int:
    """The window's net points; never below zero (a refund of points outside it is not counted)."""
    return max(0, sum(in_window(program, buckets, now).values()))


def window_ends_at(program: Program, buckets: Mapping[str, int], now: datetime) -> datetime | None:
    """When the oldest qualifying points still counted leave the window; None without any."""
    live = [day for day, points in in_window(program, buckets, now).items() if points > 0]
    return leaves_at(program, date.fromisoformat(min(live))) if live else None


def tier_rank(program: Program, code: str) -> int:
    """The tier's position, lowest first; an unknown code counts as the entry tier."""
    for rank, tier in enumerate(program.tiers):
        if tier.code == code:
            return rank
    return 0


def earned_tier(program: Program, points: int) -> Tier:
    """The highest tier whose threshold the points reach."""
    reached = [tier for tier in program.tiers if tier.threshold <= points]
    return reached[-1]


def next_tier(program: Program, code: str) -> Tier | None:
    rank = tier_rank(program, code)
    return program.tiers[rank + 1] if rank + 1 < len(program.tiers) else None


def downgrade_target(program: Program, current: str, points: int) -> Tier | None:
    """The tier to move down to after an evaluation, at most `max_levels_down` below the current
    one; None when the points still hold the current tier (or a higher one: upgrades happen at
    the earn, never here)."""
    rank = tier_rank(program, current)
    target = tier_rank(program, earned_tier(program, points).code)
    if target >= rank:
        return None
    return program.tiers[max(target, rank - program.tier_rules.max_levels_down)]
