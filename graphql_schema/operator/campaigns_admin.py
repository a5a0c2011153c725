"""Operators read a campaign's results while it runs (admin scope reports:read):
`campaignResults(campaignId)`. The counting lives in app/partners/campaign_results.py."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.partners import (
    CampaignResults,
    GroupResults,
    Slice,
    read_campaign_results,
)
from graphql_schema.context import Info
from graphql_schema.permissions import admin_scope
from graphql_schema.refusals import ARGUMENTS, as_query


def _money(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != 0 else "0"


@strawberry.type(description="What a campaign did in one group: its audience or its control group.")
class CampaignGroup:
    members: int = strawberry.field(description="Members the campaign reached (its audience met).")
    earned: int = strawberry.field(description="Of them, members who earned points under it.")
    purchases: int
    spend: str = strawberry.field(description="Money their purchases came to, a decimal string.")
    points: int = strawberry.field(description="Points the campaign gave them (0 in the control).")

    @classmethod
    def of(cls, group: GroupResults) -> CampaignGroup:
        return cls(
            members=group.members,
            earned=group.earned,
            purchases=group.purchases,
            spend=_money(group.spend),
            points=group.points,
        )


@strawberry.type(description="A group's purchases on one channel at one store.")
class CampaignSlice:
    group: str = strawberry.field(description='"audience" or "control".')
    channel: str | None
    store: str | None
    purchases: int
    spend: str
    points: int

    @classmethod
    def of(cls, piece: Slice) -> CampaignSlice:
        return cls(
            group=piece.group,
            channel=piece.channel,
            store=piece.store,
            purchases=piece.purchases,
            spend=_money(piece.spend),
            points=piece.points,
        )


@strawberry.type(description="A campaign's results so far, live.")
class CampaignResultsView:
    campaign_id: str
    budget: int | None
    budget_left: int | None = strawberry.field(description="Points it may still give; 0: stopped.")
    audience: CampaignGroup
    control: CampaignGroup
    incremental_spend: str | None = strawberry.field(
        description="The audience's spend less the control group's spend per member for as many "
        "members; null without a control group member yet."
    )
    by_channel_and_store: list[CampaignSlice]

    @classmethod
    def of(cls, results: CampaignResults) -> CampaignResultsView:
        incremental = results.incremental_spend
        return cls(
            campaign_id=results.campaign_id,
            budget=results.budget,
            budget_left=results.budget_left,
            audience=CampaignGroup.of(results.audience),
            control=CampaignGroup.of(results.control),
            incremental_spend=None if incremental is None else _money(incremental),
            by_channel_and_store=[CampaignSlice.of(piece) for piece in results.slices],
        )


async def resolve_campaign_results(info: Info, campaign_id: str) -> CampaignResultsView:
    program = await info.context.program()
    results = await as_query(
        lambda: read_campaign_results(info.context.runtime.mongo, program, campaign_id), ARGUMENTS
    )
    return CampaignResultsView.of(results)


campaign_results_field = strawberry.field(
    resolver=resolve_campaign_results,
    extensions=admin_scope("reports:read"),
    description="Operators: a campaign's results while it runs: reach, earners, points against "
    "its budget, spend against its control group, by channel and store (reports:read).",
)
