"""Challenges and badges as the member sees them: `me { challenges badges }` (app/challenges)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.challenges import member_badges, member_progress
from graphql_schema.context import Info


@strawberry.type(description="A challenge running now and how far the member has got in it.")
class ChallengeProgress:
    id: str
    name: str
    metric: str = strawberry.field(description='"purchases", "spend" or "categories".')
    goal: str = strawberry.field(description="The goal, a decimal string (money for spend).")
    progress: str = strawberry.field(description="So far in this window, a decimal string.")
    window: str = strawberry.field(description='"2026-03", "2026-Q1", "2026-W10", "2026", "once".')
    ends_at: datetime
    completed_at: datetime | None
    reward_points: int
    badge: str | None = strawberry.field(description="The badge's name, if it gives one.")


@strawberry.type(description="A badge the member earned by completing a challenge.")
class Badge:
    code: str
    name: str
    earned_at: datetime


def _text(value: object) -> str:
    text = f"{value:f}" if hasattr(value, "normalize") else str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


async def challenges_of(info: Info, member_id: str) -> list[ChallengeProgress]:
    runtime = info.context.runtime
    program = await info.context.program()
    found = await member_progress(runtime.mongo, program, member_id, runtime.clock.now())
    return [
        ChallengeProgress(
            id=p.challenge.id,
            name=p.challenge.name,
            metric=p.challenge.metric,
            goal=_text(p.goal),
            progress=_text(min(p.value, p.goal) if p.completed_at is None else p.value),
            window=p.window,
            ends_at=p.ends_at,
            completed_at=p.completed_at,
            reward_points=p.challenge.reward.points,
            badge=p.challenge.reward.badge_name,
        )
        for p in found
    ]


async def badges_of(info: Info, member_id: str) -> list[Badge]:
    found = await member_badges(info.context.runtime.mongo, member_id)
    return [Badge(code=b.code, name=b.name, earned_at=b.earned_at) for b in found]
