"""The ledger's events (app.event_log), one per entry and one per hold opened or closed, written
by `save_books` and the express earn in the same transaction as the entries themselves.

An entry's event is keyed by the entry (`ledger:<entry id>`) and carries its per-member `seq`,
the consumer's order among a member's ledger events. A hold makes no entry: opened it is
`points.held`, released or lapsed `points.released` (a capture's REDEEM entry is
`points.captured`)."""

from __future__ import annotations

from collections.abc import Iterable

from app.db import Document
from app.event_log import event
from app.ledger.models import EntryKind, HoldStatus
from app.ledger.state import HoldState

ENTRY_EVENTS = {
    EntryKind.EARN.value: "points.earned",
    EntryKind.REDEEM.value: "points.spent",
    EntryKind.EXPIRE.value: "points.expired",
    EntryKind.ADJUST.value: "points.adjusted",
    EntryKind.REVERSAL.value: "points.reversed",
    EntryKind.CLEAR.value: "points.cleared",
    EntryKind.EXTEND.value: "points.extended",
    EntryKind.MATURE.value: "points.matured",
}


def entry_event(entry: Document) -> Document:
    """The event of one ledger entry as stored (with its seq)."""
    kind = entry["kind"]
    type = ENTRY_EVENTS[kind]
    if kind == EntryKind.REDEEM.value and entry.get("hold_id") is not None:
        type = "points.captured"
    data: Document = {
        "entry_id": str(entry["_id"]),
        "kind": kind,
        "points": entry["points"],
        "balance_after": entry["balance_after"],
        "debt_change": entry.get("debt_change", 0),
        "channel": entry.get("channel"),
        "reference": entry.get("reference"),
        "description": entry.get("description"),
        "seq": entry.get("seq"),
    }
    if entry.get("hold_id") is not None:
        data["hold_id"] = str(entry["hold_id"])
    actor = entry.get("actor")
    partner = actor.removeprefix("partner:") if isinstance(actor, str) else None
    return event(
        type,
        entry["member_id"],
        data,
        key=f"ledger:{entry['_id']}",
        occurred_at=entry["recorded_at"],
        seq=entry.get("seq"),
        partner_id=partner if partner != actor else None,
    )


def hold_event(hold: HoldState) -> Document | None:
    """The event of a hold opened (new) or closed without a capture (released, lapsed)."""
    if hold.new:
        type, when = "points.held", hold.created_at
    elif hold.dirty and hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
        type, when = "points.released", hold.closed_at or hold.created_at
    else:
        return None
    data: Document = {
        "hold_id": str(hold.id),
        "points": hold.points,
        "status": hold.status.value,
        "expires_at": hold.expires_at.isoformat(),
        "reference": hold.reference,
    }
    return event(
        type,
        hold.member_id,
        data,
        key=f"hold:{hold.id}:{hold.status.value}",
        occurred_at=when,
    )


def ledger_events(entries: Iterable[Document], holds: Iterable[HoldState]) -> list[Document]:
    documents = [entry_event(entry) for entry in entries]
    for hold in holds:
        found = hold_event(hold)
        if found is not None:
            documents.append(found)
    return documents
