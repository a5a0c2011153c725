"""The ledger's state as loaded into memory: lots, holds, the account and its front, requests.

Each class reads and writes its own stored document (see app.ledger.models for the shapes). A lot
loaded into a Book tells the book of every change of its available, pending or held points, so the
book moves the account's counters by exactly what changed without summing its lots again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bson import ObjectId

from app.db import Document
from app.ledger import expiry, order
from app.ledger.expiry import Inactivity, parse_policy
from app.ledger.models import EntryMeta, HoldStatus, LotStatus

if TYPE_CHECKING:
    from app.ledger.book import Book

Policy = expiry.Rolling | expiry.PeriodEnd | expiry.Inactivity | expiry.Never


def policy_stamp(policy: Policy, version: int, tz: str | ZoneInfo) -> Document:
    """What a lot keeps of the policy it was issued under: enough to explain (and renew) its expiry."""
    return {
        "kind": policy.kind,
        "params": policy.model_dump(exclude={"kind"}),
        "version": version,
        "tz": str(tz),
    }


LIVE = (LotStatus.PENDING, LotStatus.AVAILABLE)
# The hold_due of an account written before it kept one, with points held: look at once.
UNKNOWN_HOLD_DUE = datetime(1970, 1, 1, tzinfo=UTC)
_TRACKED = frozenset({"remaining", "held", "status"})


def expire_key(lot_id: ObjectId, hold_id: ObjectId | None = None) -> str:
    """The one ledger key under which a lot (or a held portion of it) expires: it can expire only once."""
    return f"ledger:expire:{lot_id}" if hold_id is None else f"ledger:expire:{lot_id}:{hold_id}"


def inactivity_class(policy: Document) -> str | None:
    """The name of an inactivity policy's group of lots (they all expire together), else None."""
    if policy.get("kind") != "inactivity":
        return None
    params = policy.get("params", {})
    span = (
        f"m{int(params['months']):04d}" if params.get("months") else f"d{int(params['days']):05d}"
    )
    return f"{span}@{policy.get('tz', 'UTC')}"


def renewal(policy: Document, at: datetime) -> datetime:
    """When an inactivity policy's points expire if `at` is the member's last activity."""
    stated = parse_policy({"kind": policy["kind"], **policy["params"]})
    assert isinstance(stated, Inactivity)
    return expiry.renewal(stated, at, policy.get("tz", "UTC"))


@dataclass(eq=False)
class LotState:
    id: ObjectId
    member_id: str
    amount: int
    remaining: int
    status: LotStatus
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    policy: dict[str, Any]
    source_entry_id: ObjectId
    seq: int = 0
    order: str = ""
    held: int = 0
    reversed: int = 0  # points of the earn refunded so far (taken or not)
    debt_paid: int = 0
    expired: int = 0
    cleared: int = 0
    refunded_from_lot: int = 0
    refunded_spent: int = 0
    new: bool = False
    dirty: bool = False
    # (available, pending, held, live) as loaded
    before: tuple[int, int, int, bool] = (0, 0, 0, False)
    book: Book | None = None  # told of every change of available, pending or held points

    def __setattr__(self, name: str, value: Any) -> None:
        book = self.__dict__.get("book")
        if book is None or name not in _TRACKED:
            object.__setattr__(self, name, value)
            return
        was = (self.available, self.pending, self.held)
        object.__setattr__(self, name, value)
        book.moved(was, (self.available, self.pending, self.held))

    @property
    def free(self) -> int:
        """Points of a live lot neither consumed nor reserved by a hold."""
        return self.remaining - self.held if self.status in LIVE else 0

    @property
    def available(self) -> int:
        return self.free if self.status is LotStatus.AVAILABLE else 0

    @property
    def pending(self) -> int:
        return self.remaining if self.status is LotStatus.PENDING else 0

    @property
    def live(self) -> bool:
        return self.status in LIVE and self.remaining > 0

    @property
    def due_while_pending(self) -> datetime:
        """When a pending lot next needs the book's attention: it matures, or expires first."""
        return min(self.available_at, self.expires_at or self.available_at)

    @property
    def inactivity(self) -> str | None:
        return inactivity_class(self.policy)

    @property
    def spent(self) -> int:
        """Points that left the lot by spending or paying debt (not by expiry, 清零 or a refund)."""
        return self.amount - self.remaining - self.expired - self.cleared - self.refunded_from_lot

    @classmethod
    def from_document(cls, doc: Document) -> LotState:
        lot = cls(
            id=doc["_id"],
            member_id=doc["member_id"],
            amount=doc["amount"],
            remaining=doc["remaining"],
            status=LotStatus(doc["status"]),
            earned_at=doc["earned_at"],
            available_at=doc["available_at"],
            expires_at=doc["expires_at"],
            policy=doc["policy"],
            source_entry_id=doc["source_entry_id"],
            seq=doc.get("seq", 0),
            order=doc.get("order", ""),
            held=doc["held"],
            reversed=doc["reversed"],
            debt_paid=doc["debt_paid"],
            expired=doc.get("expired", 0),
            cleared=doc.get("cleared", 0),
            refunded_from_lot=doc.get("refunded_from_lot", 0),
            refunded_spent=doc.get("refunded_spent", 0),
        )
        lot.before = (lot.available, lot.pending, lot.held, lot.live)
        return lot

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "member_id": self.member_id,
            "amount": self.amount,
            "remaining": self.remaining,
            "held": self.held,
            "reversed": self.reversed,
            "debt_paid": self.debt_paid,
            "expired": self.expired,
            "cleared": self.cleared,
            "refunded_from_lot": self.refunded_from_lot,
            "refunded_spent": self.refunded_spent,
            "status": self.status.value,
            "earned_at": self.earned_at,
            "available_at": self.available_at,
            "expires_at": self.expires_at,
            "policy": self.policy,
            "source_entry_id": self.source_entry_id,
            "seq": self.seq,
            "order": self.order,
        }

    def take(self, points: int) -> None:
        self.remaining -= points
        if self.remaining == 0 and self.status in LIVE:
            self.status = LotStatus.EXHAUSTED
        self.dirty = True

    def rekey(self) -> None:
        self.order = order.lot_key(self.seq, self.expires_at, self.inactivity)
        self.dirty = True


@dataclass(eq=False)
class HoldState:
    id: ObjectId
    member_id: str
    points: int
    status: HoldStatus
    expires_at: datetime
    created_at: datetime
    lots: list[tuple[ObjectId, int]]
    captured: int = 0
    reference: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    closed_at: datetime | None = None
    capture_entry_id: ObjectId | None = None
    new: bool = False
    dirty: bool = False

    @classmethod
    def from_document(cls, doc: Document) -> HoldState:
        return cls(
            id=doc["_id"],
            member_id=doc["member_id"],
            points=doc["points"],
            status=HoldStatus(doc["status"]),
            expires_at=doc["expires_at"],
            created_at=doc["created_at"],
            lots=[(s["lot_id"], s["points"]) for s in doc["lots"]],
            captured=doc["captured"],
            reference=doc.get("reference"),
            idempotency_key=doc.get("idempotency_key"),
            request_hash=doc.get("request_hash"),
            closed_at=doc.get("closed_at"),
            capture_entry_id=doc.get("capture_entry_id"),
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "member_id": self.member_id,
            "points": self.points,
            "captured": self.captured,
            "status": self.status.value,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "lots": [{"lot_id": lot_id, "points": points} for lot_id, points in self.lots],
            "reference": self.reference,
            "idempotency_key": self.idempotency_key,
            "request_hash": self.request_hash,
            "capture_entry_id": self.capture_entry_id,
        }


@dataclass
class FrontEntry:
    key: str
    lot_id: ObjectId
    free: int


@dataclass
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


@dataclass
class AccountState:
    """The account document as loaded: counters, the front, and what is due when."""

    member_id: str
    available: int = 0
    pending: int = 0
    held: int = 0
    debt: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    last_activity_at: datetime | None = None
    version: int = 0
    seq: int = 0
    lots_issued: int = 0
    created_at: datetime | None = None
    front: list[FrontEntry] = field(default_factory=list)
    front_end: str | None = None  # None: the front holds every free point
    dated_next: tuple[datetime, int] | None = None
    classes: dict[str, ClassState] = field(default_factory=dict)
    pending_due: datetime | None = None
    frozen: bool = False  # set by freeze(), never by account_document(): spends and holds refused
    closed: bool = False  # an erased member's: no new entries but a refund's or 清零 (freeze.py)
    hold_due: datetime | None = None  # no later than the soonest TTL of an active hold (lapse.py)

    @classmethod
    def from_document(cls, doc: Document) -> AccountState:
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
            hold_due=doc["hold_due"]
            if "hold_due" in doc
            else (UNKNOWN_HOLD_DUE if doc.get("held", 0) > 0 else None),
        )

    def due_at(self) -> datetime | None:
        """The soonest instant at which something on this account matures or expires."""
        candidates = [c.expires_at for c in self.classes.values() if c.lots > 0]
        if self.dated_next is not None:
            candidates.append(self.dated_next[0])
        if self.pending_due is not None:
            candidates.append(self.pending_due)
        return min(candidates, default=None)


@dataclass(eq=False)
class Request:
    """The idempotency of one operation: its key and the fingerprint of what was asked."""

    key: str
    fingerprint: str
    meta: EntryMeta = field(default_factory=EntryMeta)
