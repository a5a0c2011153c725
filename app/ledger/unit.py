"""A unit of work: ledger operations inside the caller's own transaction, idempotent under one key.

It is the ledger's one door: every points movement is an operation of a `LedgerUnit`. The
standalone services (earn.py, spend.py, holds.py, adjust.py, reverse.py) each run one operation
under their key (`run_entry`; `run_hold` for a hold, which makes no entry), and what is
idempotent by nature runs with no key (`run_unit`: a release, the batches of the expiry, maturing
and hold-release jobs).

Other areas (redemption, draws, the partner API) move points together with writes of their own:
a redemption takes stock, spends points and records itself, all or nothing. They pass `work` to
`run_in_ledger`, which opens the transaction (retried from the start on a write conflict), hands
`work` a `LedgerUnit` whose operations change the members' books in memory, and saves the books
when `work` returns: one command per collection, after the caller's own writes.

Idempotency needs no extra read on the happy path: the first entry the unit writes carries the
key and the fingerprint of the request, under the ledger's unique index. A replay fails there
(or earlier, on whatever the first request already used up: the stock, a limit, the points),
and only then is the first entry looked up: same fingerprint, `replay(first_entry)` returns the
first result; another fingerprint is IdempotencyConflict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from app.bounds import MAX_ENTRY_POINTS
from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import express, order
from app.ledger.accounts import first_hold
from app.ledger.book import Book
from app.ledger.entries import entry_document
from app.ledger.errors import (
    EntryNotFound,
    HoldNotActive,
    IdempotencyConflict,
    InvalidPoints,
    InvalidRequest,
    LedgerError,
)
from app.ledger.events import entry_event
from app.ledger.expiry import Never, expires_at
from app.ledger.models import (
    Balance,
    BreakdownLine,
    Entry,
    EntryKind,
    EntryMeta,
    Hold,
    HoldStatus,
    LotStatus,
)
from app.ledger.state import HoldState, LotState, Policy, Request, inactivity_class, policy_stamp
from app.ledger.store import (
    due_lots,
    find_hold,
    instant,
    is_duplicate_key,
    load_accounts,
    load_book,
    load_books,
    load_holds,
    load_whole_books,
    lots_by_id,
    open_book,
    refill,
    run,
    save_books,
)
from app.ledger.tally import Tally, move_tally

T = TypeVar("T")


class LedgerUnit:
    """The ledger inside one attempt of the caller's transaction: `session` for the caller's own
    writes, `now` for its timestamps, and the ledger operations."""

    def __init__(
        self,
        mongo: Mongo,
        session: AsyncClientSession,
        now: datetime,
        key: str | None,
        fingerprint: str,
    ) -> None:
        self.session = session
        self.now = now
        self._mongo = mongo
        self._key = key
        self._fingerprint = fingerprint
        self._books: dict[str, Book] = {}
        self._whole: set[str] = set()  # members whose book holds every live lot
        self._active_holds: dict[str, list[HoldState]] = {}  # read by load_whole, for clear
        self._operations = 0
        self._tallies: dict[tuple[str, str], Document] = {}  # (member, name): after an earn
        self._events: list[Document] = []  # the caller's, and express earns' (app.event_log)

    def emit(self, event: Document) -> None:
        """Log the caller's own event (app.event_log.event) with the ledger's: one command for
        all of the unit's events when it saves, in its transaction."""
        self._events.append(event)

    async def spend(
        self,
        member_id: str,
        points: int,
        *,
        reference: str | None = None,
        description: str | None = None,
        actor: str | None = None,
        channel: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Entry:
        """Redeem `points` from the member's available lots, soonest expiry first.

        InsufficientPoints (raised here) aborts the whole unit. `extra` fields are stored on the
        entry, e.g. the id of what the points bought.
        """
        book = await self._book(member_id)
        if (
            isinstance(points, int) and points > 0
        ):  # the front lots covering it (bad input: debit says)
            await refill(self._mongo, self.session, book, points)
        meta = EntryMeta(actor, channel, reference, description, dict(extra or {}))
        return Entry.from_document(book.debit(EntryKind.REDEEM, points, self._request(meta)))

    async def earn(
        self,
        member_id: str,
        points: int,
        *,
        policy: Policy | None = None,
        policy_version: int = 1,
        tz: str = "UTC",
        available_at: datetime | None = None,
        earned_at: datetime | None = None,
        breakdown: Sequence[BreakdownLine] = (),
        reference: str | None = None,
        description: str | None = None,
        actor: str | None = None,
        channel: str | None = None,
        extra: dict[str, Any] | None = None,
        tally: Tally | None = None,
    ) -> Entry:
        """Credit `points` as a new lot (pending until `available_at`), paying debt first.

        `earned_at` (default now) is when the points were earned: a purchase posted late by an
        offline till; the expiry counts from it. `breakdown` must add up to `points`. `tally`,
        another area's counters on the account (app.ledger.tally), moves with the earn, in the
        same command when the earn is expressed; `tallied` gives it as it is after.
        """
        policy = policy or Never()
        if breakdown and sum(line.points for line in breakdown) != points:
            raise InvalidPoints(points, "must equal the sum of the breakdown")
        earned = self.now if earned_at is None else instant(earned_at)
        available = None if available_at is None else instant(available_at)
        expiry = expires_at(policy, earned, tz)
        stamp = policy_stamp(policy, policy_version, tz)
        meta = EntryMeta(actor, channel, reference, description, dict(extra or {}))
        lines = [line.to_document() for line in breakdown]
        request = self._request(meta)
        book = self._books.get(member_id)
        if book is None and _expressible(points, stamp, expiry, self.now):
            lot = _new_lot(member_id, points, earned, available, expiry, stamp, self.now)
            credit = express.Credit(
                points,
                order.mass_of(order.lot_key(0, expiry, None)),
                expiry,
                lot.status is LotStatus.PENDING,
                lot.due_while_pending,
                min(earned, self.now),
                self.now,
            )
            fitted, before = await express.earn_or_read(
                self._mongo, self.session, member_id, credit, lot.id, tally
            )
            if tally is not None:
                self._tallies[member_id, tally.name] = tally.applied(before)
                tally = None
            if fitted:
                return await self._express(lot, express.counters(before), request, lines)
            book = await open_book(self._mongo, self.session, member_id, before, self.now)
            self._books[member_id] = book
        if book is None:
            book = await self._book(member_id)
        if tally is not None:
            moved = await move_tally(self._mongo, self.session, member_id, tally)
            self._tallies[member_id, tally.name] = moved
        entry = book.credit(
            EntryKind.EARN,
            points,
            request,
            earned_at=earned,
            available_at=available,
            expires_at=expiry,
            policy=stamp,
            breakdown=lines,
        )
        return Entry.from_document(entry)

    def tallied(self, member_id: str, name: str) -> Document:
        """The member's tally `name` as the unit's last earn with it left it."""
        return self._tallies[member_id, name]

    async def _express(
        self, lot: LotState, before: Document, request: Request, breakdown: list[Document]
    ) -> Entry:
        """The lot and the entry of an earn the account took in place (app.ledger.express):
        written now, so that a later operation of the unit on the member reads them."""
        lot.seq = before["lots_issued"] + 1
        lot.rekey()
        available = before["available"] + (
            lot.remaining if lot.status is LotStatus.AVAILABLE else 0
        )
        extra: Document = {"breakdown": breakdown} if breakdown else {}
        entry = entry_document(
            lot.source_entry_id,
            lot.member_id,
            EntryKind.EARN,
            lot.amount,
            [(lot.id, lot.amount)],
            balance_after=available,
            now=self.now,
            key=request.key,
            meta=request.meta,
            fingerprint=request.fingerprint,
            occurred_at=lot.earned_at,
            **extra,
        )
        entry["seq"] = before["seq"] + 1
        await self._mongo["lots"].insert_one(lot.to_document(), session=self.session)
        await self._mongo["ledger"].insert_one(entry, session=self.session)
        self._events.append(entry_event(entry))  # written with the unit's other events
        return Entry.from_document(entry)

    async def credit(
        self,
        member_id: str,
        points: int,
        *,
        reason: str,
        actor: str | None = None,
        channel: str | None = None,
        reference: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Entry:
        """A positive ADJUST: points given back (never expiring), paying debt first.

        Not an earn: it renews no inactivity clock and does not count as lifetime earnings (the
        points given back for a refunded order that was paid with points were earned once already).
        """
        meta = EntryMeta(actor, channel, reference, reason, dict(extra or {}))
        return await self._give(member_id, EntryKind.ADJUST, points, meta)

    async def _give(
        self,
        member_id: str,
        kind: EntryKind,
        points: int,
        meta: EntryMeta,
        policy: Policy | None = None,
        policy_version: int = 1,
        tz: str = "UTC",
    ) -> Entry:
        """Points given (back): a new lot (never expiring unless a policy is given), paying any
        debt first."""
        policy = policy or Never()
        book = await self._book(member_id)
        entry = book.credit(
            kind,
            points,
            self._request(meta),
            earned_at=self.now,
            available_at=None,
            expires_at=expires_at(policy, self.now, tz),
            policy=policy_stamp(policy, policy_version, tz),
        )
        return Entry.from_document(entry)

    async def restore(
        self,
        entry_id: str,
        *,
        reason: str,
        actor: str | None = None,
        channel: str | None = None,
        reference: str | None = None,
        extra: dict[str, Any] | None = None,
        points: int | None = None,
        after: int = 0,
    ) -> Entry:
        """Give back the points a REDEEM entry spent (a cancelled redemption): a positive REVERSAL
        whose lots keep the terms of the lots the points came from (Book.restore: points that
        expired since stay expired), paying any debt first. Once per entry is the caller's key's
        to guarantee (key the unit by the entry).

        A part (a refund of part of an order paid with points): `points` of the entry's points,
        past the first `after` of them in its lots' order (given back by earlier parts); the
        caller keeps the parts within the entry."""
        try:
            spent = await self._mongo["ledger"].find_one(
                {"_id": ObjectId(entry_id), "kind": EntryKind.REDEEM.value}, session=self.session
            )
        except (InvalidId, TypeError):
            spent = None
        if spent is None:
            raise EntryNotFound(entry_id)
        shares = spent.get("lots") or []
        found = {
            lot["_id"]: LotState.from_document(lot)
            async for lot in self._mongo["lots"].find(
                {"_id": {"$in": [share["lot_id"] for share in shares]}}, session=self.session
            )
        }
        meta = EntryMeta(actor, channel, reference, reason, {"restores": entry_id, **(extra or {})})
        sources = [(int(s["points"]), found[s["lot_id"]]) for s in shares if s["lot_id"] in found]
        whole = -int(spent["points"])
        wanted = whole - after if points is None else points
        if sum(share for share, _ in sources) != whole:
            # A spend whose lots cannot all be read back: the points come back never expiring.
            return await self._give(spent["member_id"], EntryKind.REVERSAL, wanted, meta)
        book = await self._book(spent["member_id"])
        return Entry.from_document(book.restore(_part(sources, after, wanted), self._request(meta)))

    async def adjust(
        self,
        member_id: str,
        points: int,
        *,
        reason: str,
        actor: str | None = None,
        channel: str | None = None,
        reference: str | None = None,
        policy: Policy | None = None,
        policy_version: int = 1,
        tz: str = "UTC",
    ) -> Entry:
        """A staff correction of ± `points` (an ADJUST entry, the reason as its description).

        Positive points are a credit (never expiring unless a `policy` is given, paying debt
        first); negative points are taken like a spend, soonest expiry first, and fail with
        InsufficientPoints beyond the available points: an adjustment makes no debt (only a
        refund does, see docs/ledger.md).
        """
        if isinstance(points, int) and not isinstance(points, bool) and points > 0:
            meta = EntryMeta(actor, channel, reference, reason)
            return await self._give(
                member_id, EntryKind.ADJUST, points, meta, policy, policy_version, tz
            )
        if isinstance(points, bool) or not isinstance(points, int) or points == 0:
            raise InvalidPoints(points, "of an adjustment must be a non-zero integer")
        book = await self._book(member_id)
        await refill(self._mongo, self.session, book, -points)
        meta = EntryMeta(actor, channel, reference, reason)
        return Entry.from_document(book.debit(EntryKind.ADJUST, -points, self._request(meta)))

    async def clear(
        self,
        member_id: str,
        *,
        reason: str,
        actor: str | None = None,
        channel: str | None = None,
        reference: str | None = None,
        key: str | None = None,
    ) -> Entry:
        """清零 inside the unit, as app.ledger.clear: release the member's active holds and take
        every remaining point (pending too) to zero; a debt stays owed. `key`: the entry's own
        idempotency key, where the unit clears many members (each keyed as if alone)."""
        book = await self._whole_book(member_id)
        active = self._active_holds.pop(member_id, None)
        if active is None:
            active = (await self._load_active_holds({member_id: book})).get(member_id, [])
        meta = EntryMeta(actor, channel, reference, reason)
        return Entry.from_document(book.clear(active, self._request(meta, key)))

    async def load_whole(self, member_ids: Sequence[str]) -> None:
        """Read the books of many members with every live lot and active hold at once, for
        `clear` and `extend` on each of them next (a batch job: a few commands for them all)."""
        wanted = [m for m in member_ids if m not in self._books]
        if not wanted:
            return
        books = await load_whole_books(self._mongo, self.session, wanted, self.now)
        self._books.update(books)
        self._whole.update(books)
        self._active_holds.update(await self._load_active_holds(books))

    async def _load_active_holds(self, books: dict[str, Book]) -> dict[str, list[HoldState]]:
        """The active holds of the members that hold points (most hold none: no read), with the
        lots they hold that expired since (a held lot keeps its held points: not live)."""
        holding = [member_id for member_id, book in books.items() if book.held() > 0]
        if not holding:
            return {}
        query = {"member_id": {"$in": holding}, "status": HoldStatus.ACTIVE.value}
        found: dict[str, list[HoldState]] = {member_id: [] for member_id in holding}
        for hold in await load_holds(self._mongo, self.session, query):
            found[hold.member_id].append(hold)
        missing = [
            lot_id
            for member_id, holds in found.items()
            for hold in holds
            for lot_id, _ in hold.lots
            if lot_id not in books[member_id].lots
        ]
        if missing:
            for lot in await lots_by_id(self._mongo, self.session, missing):
                books[lot.member_id].add([lot])
        return found

    async def extend(
        self,
        member_id: str,
        until: datetime,
        *,
        reason: str,
        actor: str | None = None,
        channel: str | None = None,
        reference: str | None = None,
        key: str | None = None,
    ) -> Entry:
        """Move the expiry of the member's points expiring before `until` to `until` (an EXTEND
        entry of 0 points), as app.ledger.extend; `key` as for `clear`."""
        book = await self._whole_book(member_id)
        meta = EntryMeta(actor, channel, reference, reason)
        return Entry.from_document(book.extend(instant(until), self._request(meta, key)))

    async def balance(self, member_id: str) -> Balance:
        """The member's account as this transaction sees it (caught up with `now`, and moved by
        what the unit did so far): an audit's "before", a job's recheck. Its next_expiry is not
        worked out here (None): the account written at the end has it."""
        book = await self._book(member_id)
        return replace(
            book.account,
            available=book.available(),
            pending=book.pending(),
            held=book.held(),
            next_expiry=None,
            front=list(book.account.front),
            classes=dict(book.account.classes),
        )

    async def reverse(
        self,
        entry_id: str,
        points: int | None,
        *,
        reason: str | None = None,
        actor: str | None = None,
        channel: str | None = None,
        reference: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Entry:
        """Take back `points` of an EARN entry by the refund rule (app.ledger.book.Book.reverse):
        its own lot first, then the member's other points, then debt; never more than it gave.
        None: all of it that is left to reverse."""
        try:
            earn_id = ObjectId(entry_id)
        except (InvalidId, TypeError):
            raise EntryNotFound(entry_id) from None
        earned = await self._mongo["ledger"].find_one(
            {"_id": earn_id, "kind": EntryKind.EARN.value}, session=self.session
        )
        if earned is None:
            raise EntryNotFound(entry_id)
        lot_id = earned["lots"][0]["lot_id"]
        member_id = earned["member_id"]
        if member_id not in self._books:
            self._books[member_id] = await load_book(
                self._mongo, self.session, member_id, self.now, lot_ids=[lot_id]
            )
        book = self._books[member_id]
        if lot_id not in book.lots:
            book.add(await lots_by_id(self._mongo, self.session, [lot_id]))
        lot = book.lots[lot_id]
        if points is None:
            points = lot.amount - lot.reversed
        if isinstance(points, int) and 0 < points <= lot.amount - lot.reversed:
            # What the refund may charge to the member's other points, beyond what it takes from
            # its own lot (which may sit in the front too): load the front lots covering that.
            charge = min(points, lot.spent - lot.refunded_spent)
            if charge > 0:
                await refill(self._mongo, self.session, book, charge + lot.available)
        meta = EntryMeta(actor, channel, reference, reason, dict(extra or {}))
        return Entry.from_document(book.reverse(lot, points, self._request(meta)))

    async def capture(
        self,
        hold_id: str,
        points: int | None = None,
        *,
        description: str | None = None,
        actor: str | None = None,
        channel: str | None = None,
    ) -> Entry:
        """Redeem `points` of an active hold (all of it by default) and release the rest, as
        app.ledger.capture does, inside the caller's transaction (HoldNotFound, HoldNotActive,
        CaptureExceedsHold abort the unit)."""
        state = await find_hold(self._mongo, self.session, hold_id)
        book = await self._hold_book(state)
        meta = EntryMeta(actor, channel, state.reference, description)
        return Entry.from_document(book.capture(state, points, self._request(meta)))

    async def release(self, hold_id: str) -> Hold:
        """Give a hold's points back (HoldNotFound; HoldNotActive once captured). Releasing a
        released or expired hold again changes nothing and answers it as it is: a release needs
        no key (run_unit)."""
        state = await find_hold(self._mongo, self.session, hold_id)
        if state.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return Hold.from_document(state.to_document())
        if state.status is not HoldStatus.ACTIVE:
            raise HoldNotActive(hold_id, state.status.value)
        book = await self._hold_book(state)
        state = book.holds[state.id]
        if state.status is HoldStatus.ACTIVE:
            book.release(state)
        return Hold.from_document(state.to_document())

    async def release_due(self, cutoff: datetime, limit: int) -> list[Hold]:
        """The hold-release job's batch: release, as EXPIRED, up to `limit` active holds of any
        members whose TTL ended at or before `cutoff` (the accounts in one read, the held lots
        in another, whatever their number)."""
        query = {"status": HoldStatus.ACTIVE.value, "expires_at": {"$lte": cutoff}}
        due = await load_holds(self._mongo, self.session, query, limit=limit)
        wanted = {state.member_id for state in due if state.member_id not in self._books}
        if wanted:
            lot_ids = [lot_id for s in due if s.member_id in wanted for lot_id, _ in s.lots]
            books = await load_books(self._mongo, self.session, wanted, self.now, lot_ids=lot_ids)
            self._books.update(books)
        released = []
        for state in due:
            book = await self._hold_book(state)
            state = book.holds[state.id]
            if state.status is HoldStatus.ACTIVE:  # else released as its book was loaded (lapse)
                book.release(state, HoldStatus.EXPIRED)
            released.append(Hold.from_document(state.to_document()))
        return released

    async def expire_due(
        self, cutoff: datetime, limit: int
    ) -> tuple[list[tuple[LotState, int]], bool]:
        """The expiry job's batch: up to `limit` lots whose expiry is at or before `cutoff`, and
        every member they belong to caught up with `cutoff` (a loaded pending lot matures, paying
        debt, before it expires). The lots expired with their points, and whether that was the
        last of the due lots."""
        queries = [
            {"status": status.value, "expires_at": {"$lte": cutoff}}
            for status in (LotStatus.AVAILABLE, LotStatus.PENDING)
        ]
        books, last = await self._due_books(queries, limit)
        for book in books:
            book.catch_up(cutoff)
        return [pair for book in books for pair in book.expired], last

    async def mature_due(
        self, cutoff: datetime, limit: int
    ) -> tuple[list[tuple[LotState, int]], bool]:
        """The maturing job's batch, as `expire_due`: pending lots whose `available_at` is at or
        before `cutoff` become available (one already past its expiry expires at once)."""
        query = {"status": LotStatus.PENDING.value, "available_at": {"$lte": cutoff}}
        books, last = await self._due_books([query], limit)
        for book in books:
            book.catch_up(cutoff)
        return [(lot, lot.remaining) for book in books for lot in book.matured], last

    async def _due_books(self, queries: list[Document], limit: int) -> tuple[list[Book], bool]:
        """The books of the members of up to `limit` due lots, with those lots in them (the
        accounts in one read, whatever their number), and whether they were the last due."""
        due, last = await due_lots(self._mongo, self.session, queries, limit)
        members = {lot.member_id for lot in due}
        wanted = [member_id for member_id in members if member_id not in self._books]
        if wanted:
            self._books.update(await load_accounts(self._mongo, self.session, wanted, self.now))
        for lot in due:
            self._books[lot.member_id].add([lot])
        return [self._books[member_id] for member_id in sorted(members)], last

    async def _hold_book(self, state: HoldState) -> Book:
        """The book of the hold's member with the lots it holds, and the hold in it."""
        lot_ids = [lot_id for lot_id, _ in state.lots]
        if state.member_id not in self._books:
            self._books[state.member_id] = await load_book(
                self._mongo, self.session, state.member_id, self.now, lot_ids=lot_ids
            )
        book = self._books[state.member_id]
        missing = [lot_id for lot_id in lot_ids if lot_id not in book.lots]
        if missing:
            book.add(await lots_by_id(self._mongo, self.session, missing))
        known = book.holds.get(state.id)
        if known is None or known.status is HoldStatus.ACTIVE:
            book.holds[state.id] = state
        # else: past its TTL, released as the book was loaded (app.ledger.lapse); a capture of
        # `state` is refused as expired, a release answers the book's
        return book

    async def hold(
        self, member_id: str, points: int, ttl: timedelta, *, reference: str | None = None
    ) -> Hold:
        """Reserve `points` of the member's available points until now + `ttl`, as app.ledger.hold
        does, inside the caller's transaction (InsufficientPoints, AccountFrozen abort the unit).
        The hold carries the unit's key and fingerprint and makes no entry: a replay fails on the
        holds' unique key, and the caller finds the first hold by it."""
        if ttl <= timedelta(0):
            raise InvalidRequest(f"a hold's ttl must be positive, not {ttl}")
        book = await self._book(member_id)
        if isinstance(points, int) and points > 0:
            await refill(self._mongo, self.session, book, points)
        ttl = timedelta(milliseconds=ttl // timedelta(milliseconds=1))
        state = book.hold(points, ttl, self._request(EntryMeta(reference=reference)))
        return Hold.from_document(state.to_document())

    async def _book(self, member_id: str) -> Book:
        if member_id not in self._books:
            self._books[member_id] = await load_book(self._mongo, self.session, member_id, self.now)
        return self._books[member_id]

    async def _whole_book(self, member_id: str) -> Book:
        """The member's book with every live lot (清零 and extending need them all).

        A book this unit already loaded is read again whole only while nothing changed it: a
        change in memory would be lost, so clear and extend come first on a member in a unit.
        """
        book = self._books.get(member_id)
        if book is not None and member_id in self._whole:
            return book
        if book is not None and any(self._made_by_unit(entry) for entry in book.entries):
            raise InvalidRequest("clear and extend must come first on a member in a ledger unit")
        # Else only the catch-up changed it (expiry, maturing): reloading redoes that, same keys.
        book = await load_book(self._mongo, self.session, member_id, self.now, everything=True)
        self._books[member_id] = book
        self._whole.add(member_id)
        return book

    def _made_by_unit(self, entry: Document) -> bool:
        key = entry["idempotency_key"]
        if self._key is None:
            return False
        return bool(key == self._key or key.startswith(f"{self._key}#"))

    def _request(self, meta: EntryMeta, key: str | None = None) -> Request:
        """The first operation's entry carries the unit's key; later ones derive theirs from it
        (unless given their own)."""
        self._operations += 1
        if key is None:
            if self._key is None:
                raise InvalidRequest("this ledger operation needs an idempotency key")
            key = self._key if self._operations == 1 else f"{self._key}#{self._operations}"
        return Request(key, self._fingerprint, meta)

    async def save(self, *, require_entry: bool = True) -> None:
        if self._operations == 0 and require_entry:
            raise InvalidRequest("a ledger unit must record at least one entry to be idempotent")
        await save_books(self._mongo, self.session, self._books.values(), self._events)


def _expressible(points: int, policy: Document, expiry: datetime | None, now: datetime) -> bool:
    """Whether an earn may try the account's express path: valid points, no inactivity policy,
    not expired already (the book handles those, and refuses bad points)."""
    return (
        isinstance(points, int)
        and not isinstance(points, bool)
        and 0 < points <= MAX_ENTRY_POINTS
        and inactivity_class(policy) is None
        and (expiry is None or expiry > now)
    )


def _new_lot(
    member_id: str,
    points: int,
    earned_at: datetime,
    available_at: datetime | None,
    expiry: datetime | None,
    policy: Document,
    now: datetime,
) -> LotState:
    """An earn's lot as Book._issue makes it with no debt to pay (its seq comes from the account)."""
    pending = available_at is not None and available_at > now
    return LotState(
        id=ObjectId(),
        member_id=member_id,
        amount=points,
        remaining=points,
        status=LotStatus.PENDING if pending else LotStatus.AVAILABLE,
        earned_at=earned_at,
        available_at=available_at if available_at is not None else earned_at,
        expires_at=expiry,
        policy=policy,
        source_entry_id=ObjectId(),
        new=True,
    )


def _part(shares: list[tuple[int, LotState]], skip: int, take: int) -> list[tuple[int, LotState]]:
    """`take` points of the shares, past their first `skip` points."""
    part = []
    for points, lot in shares:
        skipped = min(points, skip)
        skip -= skipped
        used = min(points - skipped, take)
        take -= used
        if used:
            part.append((used, lot))
    return part


async def run_in_ledger(
    mongo: Mongo,
    clock: Clock,
    work: Callable[[LedgerUnit], Awaitable[T]],
    *,
    idempotency_key: str,
    fingerprint: str,
    replay: Callable[[Entry], Awaitable[T]],
    require_entry: bool = True,
    refusals_only: bool = False,
) -> T:
    """Run `work` and save the books it changed in one transaction, once per `idempotency_key`.

    With `refusals_only=True` (the ledger's own single operations), only a refusal looks the
    key up; a failure of the database is raised as it is, as the operations always did.

    With `require_entry=False`, `work` may record no entry at all (a purchase that earned
    nothing): then the caller's own writes must carry the idempotency (a unique id of its own),
    and a replay of such a request raises whatever refused it (the caller's duplicate key).

    `work` may run more than once (a write conflict reruns the transaction from the start), so
    it must make every write through `unit.session`. The key is global to the ledger: prefix it
    with the caller's area and member (`redeem:<member>:<client key>`).
    """
    try:
        return await _attempts(mongo, clock, work, idempotency_key, fingerprint, require_entry)
    except Exception as exc:
        if refusals_only and not _refusal(exc):
            raise  # the database failed (a commit's outcome unknown, say): the caller retries
        # Whatever refused a replay (the unique key, or what the first request used up), the
        # answer is the first result; an unused key means the refusal stands.
        first = await first_entry(mongo, idempotency_key)
        if first is None:
            raise
        if first.fingerprint != fingerprint:
            raise IdempotencyConflict(idempotency_key) from exc
        return await replay(first.entry)


async def run_entry(
    mongo: Mongo,
    clock: Clock,
    work: Callable[[LedgerUnit], Awaitable[Entry]],
    *,
    idempotency_key: str,
    fingerprint: str,
) -> Entry:
    """One operation of the unit of work under the key, as the ledger's standalone operations
    (earn, spend, reverse, clear, extend) run it: a replay answers the entry the first wrote, and
    only a refusal looks the key up (`run_in_ledger`'s `refusals_only`)."""

    async def first(entry: Entry) -> Entry:
        return entry

    return await run_in_ledger(
        mongo,
        clock,
        work,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        replay=first,
        refusals_only=True,
    )


async def run_hold(
    mongo: Mongo,
    clock: Clock,
    work: Callable[[LedgerUnit], Awaitable[Hold]],
    *,
    idempotency_key: str,
    fingerprint: str,
) -> Hold:
    """A hold (LedgerUnit.hold) under the key, as the ledger's standalone `hold` runs it. A hold
    makes no entry: the hold itself carries the key and the fingerprint under the holds' unique
    index, and a replay answers the first hold as it is now. Only a refusal looks the key up."""
    try:
        return await _attempts(mongo, clock, work, idempotency_key, fingerprint, True)
    except Exception as exc:
        if not _refusal(exc):
            raise
        first = await first_hold(mongo, idempotency_key)
        if first is None:
            raise
        if first.fingerprint != fingerprint:
            raise IdempotencyConflict(idempotency_key) from exc
        return first.hold


async def run_unit(mongo: Mongo, clock: Clock, work: Callable[[LedgerUnit], Awaitable[T]]) -> T:
    """Run `work` and save the books it changed in one transaction, with no key: for what is
    idempotent by its nature (releasing a hold, the hold-release job's batch). An operation that
    records an entry under the unit's key refuses to run here (InvalidRequest)."""
    return await _attempts(mongo, clock, work, None, "", False)


async def _attempts(
    mongo: Mongo,
    clock: Clock,
    work: Callable[[LedgerUnit], Awaitable[T]],
    key: str | None,
    fingerprint: str,
    require_entry: bool,
) -> T:
    """`work` on a fresh unit in each attempt of the transaction, then the books saved."""
    now = instant(clock.now())

    async def attempt(session: AsyncClientSession) -> T:
        unit = LedgerUnit(mongo, session, now, key, fingerprint)
        result = await work(unit)
        await unit.save(require_entry=require_entry)
        return result

    return await run(mongo, attempt)


def _refusal(exc: Exception) -> bool:
    """A rule's refusal (the ledger's, or the unique key's), not a failure of the database."""
    if isinstance(exc, OperationFailure):
        return is_duplicate_key(exc)
    return isinstance(exc, LedgerError)


@dataclass(frozen=True, slots=True)
class FirstEntry:
    """The entry a key's first request wrote, and the fingerprint of that request."""

    entry: Entry
    fingerprint: str | None


async def first_entry(mongo: Mongo, idempotency_key: str) -> FirstEntry | None:
    """The first entry written under `idempotency_key`, if any: a caller whose request is refused
    by a rule checked before its unit runs (the member suspended since) answers a replay with it."""
    found = await mongo["ledger"].find_one({"idempotency_key": idempotency_key})
    if found is None:
        return None
    return FirstEntry(Entry.from_document(found), found.get("request_hash"))
