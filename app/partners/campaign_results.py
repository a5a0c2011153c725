"""Campaign results while they run: who the campaign reached, who earned under it, the points it
gave against its budget, and the spend of its audience against its control group, by channel and
store.

Counted by the purchases themselves, in their own transaction, for every campaign the engine says
reached the member (active at the purchase, its audience condition met: `EarnResult.reached`):

- `campaign_members`, one document per campaign and member (`<campaign>|<member>`): the member's
  group (`audience` or `control`, drawn once per member: rules.in_control_group), when the
  campaign first reached them, and whether they earned under it;
- `campaign_stats`, one document per campaign, group, channel and store: purchases, spend (in
  ten-thousandths of the money unit, so that sums stay exact integers) and points given.

Two commands more per purchase that a campaign reaches, none otherwise. Refunds do not move
these counters: results count what the campaign drew, as it happened.

Incremental spend is the audience's spend less what it would have spent at the control group's
rate: audience spend − control spend per member × audience members (None without a control group
or before a control member has been reached).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.program import EarnResult, Program, Purchase

MEMBERS, STATS = "campaign_members", "campaign_stats"
AUDIENCE, CONTROL = "audience", "control"
SPEND_UNIT = Decimal("0.0001")
NO_VALUE = "-"  # a purchase without a channel or a store


def _spend(purchase: Purchase) -> int:
    return int(purchase.total / SPEND_UNIT)


async def record_results(
    mongo: Mongo,
    session: AsyncClientSession,
    program: Program,
    member_id: str,
    purchase: Purchase,
    result: EarnResult,
    now: datetime,
) -> None:
    """Count the purchase in the results of every campaign that reached the member (two commands;
    none when no campaign did)."""
    if not result.reached:
        return
    given: dict[str, int] = {}
    for row in result.rows:
        if row.rule.startswith("campaign:"):
            cid = row.rule.removeprefix("campaign:")
            given[cid] = given.get(cid, 0) + row.points
    members, stats = [], []
    spend = _spend(purchase)
    channel = purchase.channel or NO_VALUE
    store = purchase.store or NO_VALUE
    for cid, held_out in sorted(result.reached.items()):
        group = CONTROL if held_out else AUDIENCE
        points = given.get(cid, 0)
        members.append(
            UpdateOne(
                {"_id": f"{cid}|{member_id}"},
                {
                    "$setOnInsert": {
                        "campaign": cid,
                        "member_id": member_id,
                        "group": group,
                        "first_at": now,
                    },
                    "$max": {"earned": points > 0},
                },
                upsert=True,
            )
        )
        stats.append(
            UpdateOne(
                {"_id": f"{cid}|{group}|{channel}|{store}"},
                {
                    "$setOnInsert": {
                        "campaign": cid,
                        "group": group,
                        "channel": channel,
                        "store": store,
                    },
                    "$inc": {"purchases": 1, "spend": spend, "points": points},
                },
                upsert=True,
            )
        )
    await mongo[MEMBERS].bulk_write(members, ordered=True, session=session)
    await mongo[STATS].bulk_write(stats, ordered=True, session=session)


@dataclass(frozen=True, slots=True)
class Slice:
    """A group's purchases on one channel and at one store."""

    group: str
    channel: str | None
    store: str | None
    purchases: int
    spend: Decimal
    points: int


@dataclass(frozen=True, slots=True)
class GroupResults:
    members: int = 0  # members the campaign reached in this group
    earned: int = 0  # of them, members who earned under it
    purchases: int = 0
    spend: Decimal = Decimal(0)
    points: int = 0


@dataclass(frozen=True, slots=True)
class CampaignResults:
    campaign_id: str
    budget: int | None
    budget_left: int | None
    audience: GroupResults
    control: GroupResults
    slices: list[Slice] = field(default_factory=list)

    @property
    def incremental_spend(self) -> Decimal | None:
        """The audience's spend less the control group's spend per member for as many members."""
        if self.control.members == 0 or self.audience.members == 0:
            return None
        rate = self.control.spend / self.control.members
        return (self.audience.spend - rate * self.audience.members).quantize(SPEND_UNIT)


class CampaignNotFound(Exception):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign {campaign_id[:64]!r} in the program")
        self.campaign_id = campaign_id


async def read_campaign_results(
    mongo: Mongo, program: Program, campaign_id: str
) -> CampaignResults:
    """The campaign's results so far (a few reads: its stats documents, two counts per group, its
    budget counter)."""
    campaign = next((c for c in program.campaigns if c.id == campaign_id), None)
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    slices = [
        Slice(
            doc["group"],
            None if doc["channel"] == NO_VALUE else doc["channel"],
            None if doc["store"] == NO_VALUE else doc["store"],
            int(doc["purchases"]),
            Decimal(int(doc["spend"])) * SPEND_UNIT,
            int(doc["points"]),
        )
        async for doc in mongo[STATS].find({"campaign": campaign_id}).sort("_id", 1)
    ]
    groups = {}
    for group in (AUDIENCE, CONTROL):
        mine = [s for s in slices if s.group == group]
        query: Document = {"campaign": campaign_id, "group": group}
        groups[group] = GroupResults(
            members=await mongo[MEMBERS].count_documents(query),
            earned=await mongo[MEMBERS].count_documents({**query, "earned": True}),
            purchases=sum(s.purchases for s in mine),
            spend=sum((s.spend for s in mine), Decimal(0)),
            points=sum(s.points for s in mine),
        )
    left = None
    if campaign.budget is not None:
        counter = await mongo["campaign_budgets"].find_one({"_id": campaign_id})
        left = max(campaign.budget - int((counter or {}).get("spent", 0)), 0)
    return CampaignResults(
        campaign_id, campaign.budget, left, groups[AUDIENCE], groups[CONTROL], slices
    )
