"""The ledger's values as services return them, and their stored document shapes.

Documents (snake_case fields, instants aware UTC, points int):
- accounts: _id member id; available, pending, held, debt, lifetime_earned, lifetime_redeemed,
  lifetime_expired, next_expiry {expires_at, points} | null, last_activity_at, version,
  created_at, updated_at, seq, lots_issued, front [{k, id, f}], front_end, dated_next
  {expires_at, points}, classes [{name, policy, expires_at, free, lots}], pending_due, frozen,
  closed (read and written as Balance).
- lots: _id ObjectId; member_id, amount, remaining, held, reversed, debt_paid, status, earned_at,
  available_at, expires_at | null, policy {kind, params, version, tz}, source_entry_id.
- ledger: _id ObjectId; member_id, kind, points (signed), balance_after, debt_change,
  occurred_at, recorded_at, actor, channel, reference, description, idempotency_key,
  request_hash, lots [{lot_id, points}], breakdown [{rule, description, points}], and per kind
  hold_id, reverses (the earn entry id) and refund {points, from_lot, from_other_lots, debt,
  already_expired, already_cleared}, extended_to; seq (per member, gapless).
- holds: _id ObjectId; member_id, points, captured, status, expires_at, created_at, closed_at,
  lots [{lot_id, points}], reference, idempotency_key, request_hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId

from app.db import Document


class EntryKind(StrEnum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    REVERSAL = "REVERSAL"
    CLEAR = "CLEAR"
    EXTEND = "EXTEND"  # 0 points: records who moved which expiries, and why
    MATURE = "MATURE"  # 0 points: pending points became available and paid debt


class LotStatus(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    REVERSED = "reversed"


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class LotShare:
    """How many points of one lot an entry or a hold moved."""

    lot_id: str
    points: int


@dataclass(frozen=True, slots=True)
class BreakdownLine:
    """One line of an earn: which rule gave how many points (so a refund reverses exactly)."""

    rule: str
    description: str
    points: int
    line: str | None = None  # the order line it was earned on; None for the whole order
    version: int | None = None  # the program version whose rule computed it

    def to_document(self) -> Document:
        document: Document = {
            "rule": self.rule,
            "description": self.description,
            "points": self.points,
        }
        if self.line is not None:
            document["line"] = self.line
        if self.version is not None:
            document["version"] = self.version
        return document


@dataclass(frozen=True, slots=True)
class Refund:
    """What a REVERSAL did with the refunded points of an earn (see app.ledger.book.debt).

    points = from_lot + from_other_lots + debt + already_expired + already_cleared.
    """

    points: int
    from_lot: int
    from_other_lots: int
    debt: int
    already_expired: int
    already_cleared: int


@dataclass(frozen=True, slots=True)
class NextExpiry:
    expires_at: datetime
    points: int


@dataclass(slots=True)
class FrontEntry:
    """A lot at the front of the spending order, as the account keeps it: its key, id, free points."""

    key: str
    lot_id: ObjectId
    free: int


@dataclass(slots=True)
class ClassState:
    """The lots of one inactivity policy: they expire together, `expires_at` after the last activity."""

    name: str
    policy: dict[str, Any]
    expires_at: datetime
    free: int = 0
    lots: int = 0

    def to_document(self) -> Document:
        return {
            "name": self.name,
            "policy": self.policy,
            "expires_at": self.expires_at,
            "free": self.free,
            "lots": self.lots,
        }


# The hold_due of an account written before it kept one, with points held: look at once.
UNKNOWN_HOLD_DUE = datetime(1970, 1, 1, tzinfo=UTC)


def stored_hold_due(doc: Document) -> datetime | None:
    """An account document's hold_due: UNKNOWN_HOLD_DUE when it has none but holds points (the
    rule app.ledger.express's guard writes as an expression too)."""
    return doc.get("hold_due") or (UNKNOWN_HOLD_DUE if doc.get("held", 0) > 0 else None)


@dataclass(slots=True)
class Balance:
    """A member's account document: the one account-state type, as services return it and as a
    member's book (app.ledger.book) loads and moves it.

    available + pending + held − debt is the sum of the member's ledger points. lifetime_earned
    counts earns less the points refunded (adjustments are not earnings); next_expiry is the
    soonest expiry among unreserved available points, with how many points expire then.
    Time moves these only when an operation or a job touches the member (mature_due, expire_due).

    The rest keeps every operation's cost independent of the member's history: `seq` and
    `lots_issued` number the member's entries and lots, `front` lists the first lots in spending
    order (up to `front_end`; None: every free point), `dated_next`, `classes` and `pending_due`
    say what falls due when; `frozen` refuses spends and holds, `closed` new entries (freeze.py).
    """

    member_id: str
    available: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    next_expiry: NextExpiry | None = None
    last_activity_at: datetime | None = None
    version: int = 0
    seq: int = 0
    lots_issued: int = 0
    created_at: datetime | None = None
    front: list[FrontEntry] = field(default_factory=list)
    front_end: str | None = None
    dated_next: tuple[datetime, int] | None = None
    classes: dict[str, ClassState] = field(default_factory=dict)
    pending_due: datetime | None = None
    frozen: bool = False  # set by freeze(), never by account_document()
    closed: bool = False  # an erased member's: no new entries but a refund's or 清零
    hold_due: datetime | None = None  # no later than the soonest TTL of an active hold (lapse.py)

    @classmethod
    def from_document(cls, doc: Document) -> Balance:
        nxt = doc.get("next_expiry")
        dated = doc.get("dated_next")
        return cls(
            member_id=doc["_id"],
            available=doc.get("available", 0),
            pending=doc.get("pending", 0),
            held=doc.get("held", 0),
            debt=doc["debt"],
            lifetime_earned=doc["lifetime_earned"],
            lifetime_redeemed=doc["lifetime_redeemed"],
            lifetime_expired=doc["lifetime_expired"],
            next_expiry=NextExpiry(nxt["expires_at"], nxt["points"]) if nxt else None,
            last_activity_at=doc.get("last_activity_at"),
            version=doc["version"],
            seq=doc.get("seq", 0),
            lots_issued=doc.get("lots_issued", 0),
            created_at=doc.get("created_at"),
            front=[FrontEntry(e["k"], e["id"], e["f"]) for e in doc.get("front", [])],
            front_end=doc.get("front_end"),
            dated_next=(dated["expires_at"], dated["points"]) if dated else None,
            classes={
                c["name"]: ClassState(c["name"], c["policy"], c["expires_at"], c["free"], c["lots"])
                for c in doc.get("classes", [])
            },
            pending_due=doc.get("pending_due"),
            frozen=doc.get("frozen", False),
            closed=doc.get("closed", False),
            hold_due=stored_hold_due(doc),
        )

    def due_at(self) -> datetime | None:
        """The soonest instant at which something on this account matures or expires."""
        candidates = [c.expires_at for c in self.classes.values() if c.lots > 0]
        if self.dated_next is not None:
            candidates.append(self.dated_next[0])
        if self.pending_due is not None:
            candidates.append(self.pending_due)
        return min(candidates, default=None)


@dataclass(frozen=True, slots=True)
class Entry:
    """One append-only ledger line; `points` is signed, `balance_after` the available balance after it."""

    id: str
    member_id: str
    kind: EntryKind
    points: int
    balance_after: int
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str | None = None
    actor: str | None = None
    channel: str | None = None
    reference: str | None = None
    description: str | None = None
    lots: tuple[LotShare, ...] = ()
    breakdown: tuple[BreakdownLine, ...] = ()
    debt_change: int = 0
    hold_id: str | None = None
    reverses: str | None = None
    extended_to: datetime | None = None
    refund: Refund | None = None

    @classmethod
    def from_document(cls, doc: Document) -> Entry:
        return cls(
            id=str(doc["_id"]),
            member_id=doc["member_id"],
            kind=EntryKind(doc["kind"]),
            points=doc["points"],
            balance_after=doc["balance_after"],
            occurred_at=doc["occurred_at"],
            recorded_at=doc["recorded_at"],
            idempotency_key=doc.get("idempotency_key"),
            actor=doc.get("actor"),
            channel=doc.get("channel"),
            reference=doc.get("reference"),
            description=doc.get("description"),
            lots=tuple(LotShare(str(s["lot_id"]), s["points"]) for s in doc.get("lots", ())),
            breakdown=tuple(
                BreakdownLine(
                    b["rule"], b["description"], b["points"], b.get("line"), b.get("version")
                )
                for b in doc.get("breakdown", ())
            ),
            debt_change=doc.get("debt_change", 0),
            hold_id=str(doc["hold_id"]) if doc.get("hold_id") else None,
            reverses=str(doc["reverses"]) if doc.get("reverses") else None,
            extended_to=doc.get("extended_to"),
            refund=Refund(**doc["refund"]) if doc.get("refund") else None,
        )


@dataclass(frozen=True, slots=True)
class Hold:
    """Points reserved for an unfinished checkout until `expires_at`."""

    id: str
    member_id: str
    points: int
    captured: int
    status: HoldStatus
    expires_at: datetime
    created_at: datetime
    lots: tuple[LotShare, ...] = ()
    reference: str | None = None
    capture_entry_id: str | None = None
    idempotency_key: str | None = None  # whose hold it is: callers prefix it with their own id

    @classmethod
    def from_document(cls, doc: Document) -> Hold:
        return cls(
            id=str(doc["_id"]),
            member_id=doc["member_id"],
            points=doc["points"],
            captured=doc["captured"],
            status=HoldStatus(doc["status"]),
            expires_at=doc["expires_at"],
            created_at=doc["created_at"],
            lots=tuple(LotShare(str(s["lot_id"]), s["points"]) for s in doc["lots"]),
            reference=doc.get("reference"),
            capture_entry_id=str(doc["capture_entry_id"]) if doc.get("capture_entry_id") else None,
            idempotency_key=doc.get("idempotency_key"),
        )


@dataclass(frozen=True, slots=True)
class JobRun:
    """What one run of a batch job (expire, mature, hold release) did."""

    batches: int = 0
    lots: int = 0
    points: int = 0
    members: int = 0
    holds: int = 0
    done: bool = True


@dataclass(frozen=True, slots=True)
class Drift:
    """A member whose stored balance differs from the one rebuilt from the ledger and the lots."""

    member_id: str
    field: str
    stored: Any
    rebuilt: Any
    detail: str = ""


@dataclass(slots=True)
class EntryMeta:
    """Who asked and why: copied onto the entry."""

    actor: str | None = None
    channel: str | None = None
    reference: str | None = None
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
