"""The member's points ledger as the app reads it: entries, their earn breakdown, and history pages."""

from __future__ import annotations

import logging
from datetime import datetime
from enum import Enum

import strawberry

from app.ledger import INT32_MAX, Entry, EntryKind, list_entries
from graphql_schema.context import Info
from graphql_schema.ids import to_global_id
from graphql_schema.relay import NUMBER, Connection, Cursor, Node, connection, page_size

HISTORY = Cursor("history", (NUMBER,))  # the entry's number among the member's entries

log = logging.getLogger(__name__)


def as_int(points: int) -> int:
    """A stored points figure as GraphQL's 32-bit Int.

    The ledger's bounds (app.bounds) keep every figure it writes far inside Int; one
    stored before them (or by hand) is shown at Int's limit, and logged, rather than failing
    every read of the member (a non-null Int that cannot be serialised nulls the whole answer).
    """
    if -INT32_MAX <= points <= INT32_MAX:
        return points
    log.warning("a stored points figure %d is past GraphQL's Int: shown as its limit", points)
    return INT32_MAX if points > 0 else -INT32_MAX


def describe_values(enum: type[Enum], **descriptions: str) -> None:
    """Give values of an app enum wrapped by strawberry.enum their descriptions in the schema
    (strawberry takes value descriptions only from an enum declared for GraphQL)."""
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = descriptions.get(value.name, value.description)


LedgerEntryKind = EntryKind
strawberry.enum(LedgerEntryKind, name="LedgerEntryKind")
describe_values(
    LedgerEntryKind,
    EXTEND="0 points: expiries were moved later.",
    MATURE="0 points: pending points became available and paid a debt.",
)


@strawberry.type
class EarnComponent:
    rule: str = strawberry.field(
        description="A stable code of the rule, e.g. base, tier-multiplier, campaign:double-11."
    )
    description: str
    points: int
    line_id: str | None = strawberry.field(
        default=None,
        description="The order line the points were earned on; null for the whole order.",
    )
    rule_version: int | None = strawberry.field(
        default=None, description="The program version whose rule gave these points."
    )


@strawberry.type
class LedgerEntry(Node):
    kind: LedgerEntryKind
    points: int = strawberry.field(description="Signed: positive adds points, negative takes them.")
    balance_after: int = strawberry.field(description="Available balance right after this entry.")
    occurred_at: datetime
    description: str
    reference: str | None = strawberry.field(
        description="The outside reference: an order id, a reward name, an adjustment reason."
    )
    breakdown: list[EarnComponent] = strawberry.field(
        description="For EARN: how the points were computed, one row per rule that applied. Empty otherwise."
    )
    debt_change: int = strawberry.field(
        description="How this entry moved the points the member owes (balance.debt): positive "
        "when a refund took back points already spent, negative when new or matured points paid "
        "what was owed, else 0. The history's sum is the debt."
    )

    @classmethod
    def from_model(cls, entry: Entry) -> LedgerEntry:
        return cls(
            id=strawberry.ID(to_global_id("LedgerEntry", entry.id)),
            kind=entry.kind,
            points=as_int(entry.points),
            balance_after=as_int(entry.balance_after),
            occurred_at=entry.occurred_at,
            description=describe(entry),
            reference=entry.reference,
            breakdown=[
                EarnComponent(
                    rule=line.rule,
                    description=line.description,
                    points=as_int(line.points),
                    line_id=line.line,
                    rule_version=line.version,
                )
                for line in entry.breakdown
            ],
            debt_change=entry.debt_change,
        )


def describe(entry: Entry) -> str:
    """What the member reads for an entry: its own words, and what it did to their debt.

    The debt sentence is added here, not only where an entry is written, so that every entry that
    moved the debt says so, whoever described it (a REVERSAL with an operator's reason, an earn
    with an order number, a MATURE recorded before amounts were written into its text).
    """
    if entry.kind is EntryKind.MATURE:
        text = "Pending points became available"  # the stored text names no amount
    else:
        text = entry.description or _default_description(entry)
    if entry.debt_change > 0:
        note = f"{entry.debt_change} owed, paid from your next points"  # as refund_description says
    elif entry.debt_change < 0:
        note = f"{-entry.debt_change} paid what you owed"
    else:
        return text
    return text if note in text else f"{text}; {note}"


def _default_description(entry: Entry) -> str:
    return {
        EntryKind.EARN: "Points earned",
        EntryKind.REDEEM: "Points redeemed",
        EntryKind.EXPIRE: "Points expired",
        EntryKind.ADJUST: "Points adjusted",
        EntryKind.REVERSAL: "Points reversed",
        EntryKind.CLEAR: "Points cleared",
        EntryKind.EXTEND: "Expiry extended",
        EntryKind.MATURE: "Pending points paid a debt",
    }.get(entry.kind, entry.kind.value)


LedgerEntryConnection = Connection[LedgerEntry]


async def history_page(
    info: Info,
    member_id: str,
    first: int,
    after: str | None,
    kinds: list[LedgerEntryKind] | None,
) -> LedgerEntryConnection:
    """Newest first in recording order; the cursor is the entry's sequence number, so entries
    written meanwhile never shift a page."""
    limit = page_size(first)
    before = HISTORY.decode(after)[0] if after is not None else None
    wanted = tuple(kinds or ())
    page = await list_entries(
        info.context.runtime.mongo, member_id, first=limit, before=before, kinds=wanted
    )
    return connection(
        list(page.entries),
        has_next=page.has_more,
        after=after,
        cursor=lambda numbered: HISTORY.encode(numbered[0]),
        node=lambda numbered: LedgerEntry.from_model(numbered[1]),
    )
