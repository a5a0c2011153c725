"""The account after an operation: the summary a book writes back (Book.account_document).

Its counters are the loaded account's moved by exactly what the operation changed on the lots it
loaded; its front is the book's (app.ledger.book); the soonest dated expiry moves by the change
of its instant's lots while the front still starts there, else it is counted from the front; the
inactivity policies' free points and live lots move the same way; and the soonest expiry of free
points follows from those. `jifen ledger verify` rebuilds the same summary from the lots.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.db import Document
from app.ledger import order
from app.ledger.models import ClassState, FrontEntry

if TYPE_CHECKING:
    from app.ledger.book import Book


def account_document(book: Book) -> Document:
    """The account's new state: counters moved by what changed, the front, what is due when."""
    acc = book.account
    entries, end = book.front_view()
    dated = _dated_next(book, entries, end)
    classes = [_class_now(book, c) for c in acc.classes.values()]
    classes = [c for c in classes if c.lots > 0]
    soonest = _next_expiry(dated, classes)
    return {
        "available": _counter(book, 0),
        "pending": _counter(book, 1),
        "held": _counter(book, 2),
        "debt": acc.debt,
        "lifetime_earned": acc.lifetime_earned,
        "lifetime_redeemed": acc.lifetime_redeemed,
        "lifetime_expired": acc.lifetime_expired,
        "next_expiry": None
        if soonest is None
        else {"expires_at": soonest[0], "points": soonest[1]},
        "dated_next": None if dated is None else {"expires_at": dated[0], "points": dated[1]},
        "front": [{"k": e.key, "id": e.lot_id, "f": e.free} for e in entries],
        "front_end": end,
        "classes": [c.to_document() for c in classes],
        "pending_due": acc.pending_due if _counter(book, 1) > 0 else None,
        "hold_due": acc.hold_due if _counter(book, 2) > 0 else None,
        "last_activity_at": acc.last_activity_at,
        "lots_issued": acc.lots_issued,
        "version": acc.version + 1,
        "created_at": acc.created_at or book.now,
        "updated_at": book.now,
    }


def _class_now(book: Book, cls: ClassState) -> ClassState:
    lots = [lot for lot in book.lots.values() if lot.inactivity == cls.name]
    return ClassState(
        cls.name,
        cls.policy,
        cls.expires_at,
        cls.free + sum(lot.available - lot.before[0] for lot in lots),
        cls.lots + sum(int(lot.live) - int(lot.before[3]) for lot in lots),
    )


def _counter(book: Book, index: int) -> int:
    return (book.available, book.pending, book.held)[index]()


def _dated_next(
    book: Book, entries: list[FrontEntry], end: str | None
) -> tuple[datetime, int] | None:
    first = first_dated(entries)
    if first is None:
        return None
    instant = order.expiry_of(first.key)
    assert instant is not None
    base = book.account.dated_next
    if base is not None and base[0] == instant and not book.reset_front:
        moved = sum(
            lot.available - lot.before[0]
            for lot in book.lots.values()
            if lot.order.startswith(order.DATED) and order.expiry_of(lot.order) == instant
        )
        return instant, base[1] + moved
    mass = order.mass_of(first.key)
    points = sum(e.free for e in entries if e.key.startswith(mass))
    return instant, points + book.mass_beyond.get(instant, 0)


def first_dated(entries: list[FrontEntry]) -> FrontEntry | None:
    """The front's first lot with a fixed expiry: the soonest dated instant."""
    return next((e for e in entries if e.key.startswith(order.DATED)), None)


def _next_expiry(
    dated: tuple[datetime, int] | None, classes: list[ClassState]
) -> tuple[datetime, int] | None:
    """The soonest expiry among available points and how many points expire then."""
    candidates = [] if dated is None or dated[1] <= 0 else [dated]
    candidates += [(c.expires_at, c.free) for c in classes if c.free > 0]
    if not candidates:
        return None
    soonest = min(at for at, _ in candidates)
    return soonest, sum(points for at, points in candidates if at == soonest)
