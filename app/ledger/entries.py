"""A ledger entry as stored, and what a member reads of a refund."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.db import Document
from app.ledger.models import EntryKind, EntryMeta


def entry_document(
    entry_id: ObjectId,
    member_id: str,
    kind: EntryKind,
    points: int,
    shares: list[tuple[ObjectId, int]],
    *,
    balance_after: int,
    now: datetime,
    key: str,
    meta: EntryMeta,
    fingerprint: str | None = None,
    debt_change: int = 0,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> Document:
    """A ledger entry as stored (without its seq, which saving numbers)."""
    return {
        "_id": entry_id,
        "member_id": member_id,
        "kind": kind.value,
        "points": points,
        "balance_after": balance_after,
        "debt_change": debt_change,
        "occurred_at": occurred_at or now,
        "recorded_at": now,
        "actor": meta.actor,
        "channel": meta.channel,
        "reference": meta.reference,
        "description": meta.description,
        "idempotency_key": key,
        "request_hash": fingerprint,
        "lots": [{"lot_id": lot_id, "points": take} for lot_id, take in shares],
        **meta.extra,
        **extra,
    }


def refund_description(refund: Document) -> str:
    """What a member reads in their history for a refund."""
    parts = [f"Refund of {refund['points']} points"]
    taken = refund["from_lot"] + refund["from_other_lots"]
    if taken:
        parts.append(f"{taken} taken back")
    if refund["debt"]:
        parts.append(f"{refund['debt']} owed, paid from your next points")
    if refund["already_expired"]:
        parts.append(f"{refund['already_expired']} had already expired")
    if refund["already_cleared"]:
        parts.append(f"{refund['already_cleared']} had already been cleared")
    if not taken and not refund["debt"]:
        parts.append("nothing taken")
    return "; ".join(parts)
