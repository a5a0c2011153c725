"""Tiers as the member sees them: where they stand (tierProgress), every change (tierHistory), and
each new change live (the tierChanges subscription)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from app.members import KIND, TierChangeReason, get_tier_progress, list_tier_changes
from app.members import TierChange as TierChangeModel
from app.notifications import event_stream
from app.program import Program as ProgramModel
from graphql_schema.context import Info
from graphql_schema.member.program import Tier
from graphql_schema.permissions import IsMember, caller_member_id
from graphql_schema.relay import NUMBER, Connection, Cursor, connection, page_size

strawberry.enum(TierChangeReason, name="TierChangeKind", description="Why the tier changed.")


@strawberry.type(description="One change of the member's tier.")
class TierChange:
    from_: Tier = strawberry.field(name="from")
    to: Tier
    at: datetime
    reason: TierChangeReason
    qualifying_points: int = strawberry.field(description="Qualifying points at the change.")
    until: datetime | None = strawberry.field(
        default=None,
        description="A tier set by hand (reason MANUAL) holds at least until then.",
    )

    @classmethod
    def of(cls, program: ProgramModel, change: TierChangeModel) -> TierChange:
        return cls(
            from_=Tier.from_model(program.tier(change.from_tier)),
            to=Tier.from_model(program.tier(change.to_tier)),
            at=change.at,
            reason=change.reason,
            qualifying_points=change.qualifying_points,
            until=change.until,
        )


@strawberry.type(description="Where the member stands on the way to the next tier.")
class TierProgress:
    current: Tier
    next: Tier | None = strawberry.field(description="The next tier up; null at the top.")
    qualifying_points: int = strawberry.field(
        description="Points earned less points refunded over the program's rolling window."
    )
    points_to_next: int | None = strawberry.field(
        description="Qualifying points still missing for the next tier; null at the top."
    )
    window_ends_at: datetime | None = strawberry.field(
        description="When the oldest qualifying points leave the window; null without any."
    )
    window_days: int = strawberry.field(
        description="Qualifying points are those earned by purchases, check-ins and activities "
        "in the last windowDays local days, less refunds; points given by hand (adjustments), "
        "imported balances and older points do not count."
    )
    held_until: datetime | None = strawberry.field(
        description="The current tier was set by hand and holds at least until then, whatever "
        "the qualifying points; null when the points alone decide."
    )


TierChangeConnection = Connection[TierChange]
TIER_HISTORY = Cursor("tier-history", (NUMBER,))  # the change's number among the member's


async def tier_history_page(
    info: Info, member_id: str, first: int, after: str | None
) -> TierChangeConnection:
    size = page_size(first)
    before = TIER_HISTORY.decode(after)[0] if after is not None else None
    program = await info.context.program()
    changes, more = await list_tier_changes(
        info.context.runtime.mongo, member_id, first=size, before=before
    )
    return connection(
        changes,
        has_next=more,
        after=after,
        cursor=lambda change: TIER_HISTORY.encode(change.seq),
        node=lambda change: TierChange.of(program, change),
    )


async def tier_progress_of(
    info: Info, member_id: str, tier: str, held_until: datetime | None = None
) -> TierProgress:
    program = await info.context.program()
    runtime = info.context.runtime
    progress = await get_tier_progress(
        runtime.mongo, program, member_id=member_id, tier=tier, now=runtime.clock.now()
    )
    return TierProgress(
        current=Tier.from_model(progress.current),
        next=Tier.from_model(progress.next) if progress.next else None,
        qualifying_points=progress.qualifying_points,
        points_to_next=progress.points_to_next,
        window_ends_at=progress.window_ends_at,
        window_days=program.tier_rules.window_days,
        held_until=held_until,
    )


async def tier_changes(info: Info) -> AsyncGenerator[TierChange, None]:
    runtime = info.context.runtime
    stream = event_stream(runtime.hub, caller_member_id(info), KIND)
    try:
        async for document in stream:
            program = await info.context.program()
            yield TierChange(
                from_=Tier.from_model(program.tier(document["from_tier"])),
                to=Tier.from_model(program.tier(document["to_tier"])),
                at=document["at"],
                reason=TierChangeReason(document["reason"]),
                qualifying_points=int(document["points"]),
                until=document.get("until"),
            )
    finally:
        await stream.aclose()


tier_changes_field = strawberry.subscription(
    resolver=tier_changes,
    permission_classes=[IsMember],
    description="Each change of the member's own tier, as it happens.",
)
