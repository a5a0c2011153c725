"""Reports that read the entries of a period themselves: earns by rule and campaign, points by
partner, top earners. Each is one aggregation on a range of the `occurred_at` index (a year at
most), grouped in the database; only its rows (bounded) come back. Each groups at most
MAX_GROUPED entries on request (counted first from the rollup: a few small reads); a period with
more is refused with ReportTooLarge, as the database would take seconds to minutes.

- By rule: every EARN's breakdown row names the rule that gave its points (`base`, `rule:<id>`,
  `tier:<code>`, `campaign:<id>`, `birthday`, `cap:order`, `cap:day`); an earn without a
  breakdown counts under `activity:<code>` (partner activities) or `other` (check-in, opening
  balances, adjustments made by the ledger API directly). Points are as issued: a refund's
  REVERSAL takes points back from the earn, not from a rule.
- By partner: the entries a partner's request made (actor `partner:<id>`, or channel `partner`
  for activities, whose actor is the partner's id).
- By channel: every entry by the channel it names (a purchase's as its till sent it).
- By store: purchases' earns by the store their till named (`storeId`, kept on the EARN entry).
- Top earners: members by the EARN points of the period, kept once counted (earners.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.db import Document, Mongo
from app.ledger import EntryKind
from app.partners import list_partners
from app.program import current_program
from app.reports.earners import MAX_EARNERS, Earner, earners
from app.reports.periods import MAX_RANGE_DAYS, DateRange, ReportInvalid, date_range
from app.reports.table import Table
from app.reports.totals import refuse_large

MAX_ROWS = 500
PARTNER_PREFIX = "partner:"


async def _span(mongo: Mongo, first: date, last: date) -> DateRange:
    zone = (await current_program(mongo)).zone
    return date_range(first, last, zone, MAX_RANGE_DAYS)


def _in(span: DateRange) -> Document:
    return {"occurred_at": {"$gte": span.start, "$lt": span.end}}


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: str
    points: int
    rows: int  # breakdown rows (lines) it gave points on

    @property
    def campaign(self) -> str | None:
        return self.rule.removeprefix("campaign:") if self.rule.startswith("campaign:") else None


@dataclass(frozen=True, slots=True)
class EarnByRule:
    first: date
    last: date
    rows: tuple[RuleRow, ...]

    def table(self) -> Table:
        header = ("rule", "campaign", "points", "rows")
        return Table(header, tuple((r.rule, r.campaign, r.points, r.rows) for r in self.rows))


async def earn_by_rule(mongo: Mongo, first: date, last: date) -> EarnByRule:
    span = await _span(mongo, first, last)
    await refuse_large(mongo, span, EntryKind.EARN)
    activity = {"$concat": ["activity:", "$activity"]}
    pipeline: list[Document] = [
        {"$match": _in(span)},
        {"$match": {"kind": EntryKind.EARN.value}},
        {"$unwind": {"path": "$breakdown", "preserveNullAndEmptyArrays": True}},
        {
            "$group": {
                "_id": {"$ifNull": ["$breakdown.rule", {"$ifNull": [activity, "other"]}]},
                "points": {"$sum": {"$ifNull": ["$breakdown.points", "$points"]}},
                "rows": {"$sum": 1},
            }
        },
        {"$sort": {"points": -1, "_id": 1}},
        {"$limit": MAX_ROWS},
    ]
    cursor = await mongo["ledger"].aggregate(pipeline)
    rows = [RuleRow(str(row["_id"]), row["points"], row["rows"]) async for row in cursor]
    return EarnByRule(first, last, tuple(rows))


@dataclass(frozen=True, slots=True)
class PartnerRow:
    partner: str
    name: str | None
    issued: int
    redeemed: int
    reversed: int
    given_back: int  # points that paid for a refunded order, credited back (ADJUST)
    entries: int


@dataclass(frozen=True, slots=True)
class ByPartner:
    first: date
    last: date
    rows: tuple[PartnerRow, ...]

    def table(self) -> Table:
        header = ("partner", "name", "issued", "redeemed", "reversed", "given_back", "entries")
        return Table(
            header,
            tuple(
                (r.partner, r.name, r.issued, r.redeemed, r.reversed, r.given_back, r.entries)
                for r in self.rows
            ),
        )


async def _by_kind(
    mongo: Mongo, span: DateRange, match: Document, key: str
) -> dict[str, dict[str, int]]:
    """The period's entries that `match` takes, summed by the entry field `key` and by kind,
    with their count under "entries" (one aggregation, bounded rows)."""
    pipeline: list[Document] = [
        {"$match": _in(span)},
        {"$match": match},
        {
            "$group": {
                "_id": {"key": f"${key}", "kind": "$kind"},
                "points": {"$sum": "$points"},
                "entries": {"$sum": 1},
            }
        },
        {"$limit": MAX_ROWS * len(EntryKind)},
    ]
    sums: dict[str, dict[str, int]] = {}
    async for row in await mongo["ledger"].aggregate(pipeline):
        found = sums.setdefault(str(row["_id"].get("key")), {"entries": 0})
        found[row["_id"]["kind"]] = found.get(row["_id"]["kind"], 0) + row["points"]
        found["entries"] += row["entries"]
    return sums


async def by_partner(mongo: Mongo, first: date, last: date) -> ByPartner:
    span = await _span(mongo, first, last)
    await refuse_large(mongo, span, None)
    partner = {"$or": [{"actor": {"$regex": f"^{PARTNER_PREFIX}"}}, {"channel": "partner"}]}
    sums: dict[str, dict[str, int]] = {}
    for actor, found in (await _by_kind(mongo, span, partner, "actor")).items():
        sums[actor.removeprefix(PARTNER_PREFIX)] = found
    names = {each.id: each.name for each in await list_partners(mongo)}
    rows = sorted(
        (
            PartnerRow(
                partner=actor,
                name=names.get(actor),
                issued=found.get(EntryKind.EARN.value, 0),
                redeemed=-found.get(EntryKind.REDEEM.value, 0),
                reversed=-found.get(EntryKind.REVERSAL.value, 0),
                given_back=found.get(EntryKind.ADJUST.value, 0),
                entries=found["entries"],
            )
            for actor, found in sums.items()
        ),
        key=lambda row: (-row.issued, row.partner),
    )
    return ByPartner(first, last, tuple(rows[:MAX_ROWS]))


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: str  # as the entry names it ("app", "store", "mini_program", "partner"); "none"
    issued: int
    redeemed: int
    reversed: int
    entries: int


@dataclass(frozen=True, slots=True)
class ByChannel:
    first: date
    last: date
    rows: tuple[ChannelRow, ...]

    def table(self) -> Table:
        header = ("channel", "issued", "redeemed", "reversed", "entries")
        return Table(
            header,
            tuple((r.channel, r.issued, r.redeemed, r.reversed, r.entries) for r in self.rows),
        )


async def by_channel(mongo: Mongo, first: date, last: date) -> ByChannel:
    """Points issued, redeemed and reversed in the period by the channel each entry names (a
    purchase's as its till sent it; "none" when it named none)."""
    span = await _span(mongo, first, last)
    await refuse_large(mongo, span, None)
    sums = await _by_kind(mongo, span, {}, "channel")
    rows = sorted(
        (
            ChannelRow(
                channel="none" if channel == "None" else channel,
                issued=found.get(EntryKind.EARN.value, 0),
                redeemed=-found.get(EntryKind.REDEEM.value, 0),
                reversed=-found.get(EntryKind.REVERSAL.value, 0),
                entries=found["entries"],
            )
            for channel, found in sums.items()
        ),
        key=lambda row: (-row.issued, row.channel),
    )
    return ByChannel(first, last, tuple(rows[:MAX_ROWS]))


@dataclass(frozen=True, slots=True)
class StoreRow:
    store: str
    issued: int
    reversed: int
    entries: int


@dataclass(frozen=True, slots=True)
class ByStore:
    first: date
    last: date
    rows: tuple[StoreRow, ...]

    def table(self) -> Table:
        header = ("store", "issued", "reversed", "entries")
        return Table(header, tuple((r.store, r.issued, r.reversed, r.entries) for r in self.rows))


async def by_store(mongo: Mongo, first: date, last: date) -> ByStore:
    """Points issued in the period by the store each purchase's till named (`storeId`), and
    those its refunds took back; entries naming no store are left out."""
    span = await _span(mongo, first, last)
    await refuse_large(mongo, span, None)
    sums = await _by_kind(mongo, span, {"store": {"$type": "string"}}, "store")
    rows = sorted(
        (
            StoreRow(
                store=store,
                issued=found.get(EntryKind.EARN.value, 0),
                reversed=-found.get(EntryKind.REVERSAL.value, 0),
                entries=found["entries"],
            )
            for store, found in sums.items()
        ),
        key=lambda row: (-row.issued, row.store),
    )
    return ByStore(first, last, tuple(rows[:MAX_ROWS]))


@dataclass(frozen=True, slots=True)
class TopEarners:
    first: date
    last: date
    rows: tuple[Earner, ...]

    def table(self) -> Table:
        header = ("rank", "member_id", "points", "earns")
        return Table(
            header,
            tuple((n, r.member_id, r.points, r.earns) for n, r in enumerate(self.rows, 1)),
        )


async def top_earners(mongo: Mongo, first: date, last: date, limit: int) -> TopEarners:
    """The `limit` members (1 to MAX_EARNERS) who earned the most points in the period."""
    if not 1 <= limit <= MAX_EARNERS:
        raise ReportInvalid("first", f"first must be 1 to {MAX_EARNERS}")
    span = await _span(mongo, first, last)
    return TopEarners(first, last, tuple(await earners(mongo, span, limit)))
