"""A unit of work: ledger operations inside the caller's own transaction, idempotent under one key.

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

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Mongo
from app.ledger.book import Book
from app.ledger.earn import Policy, policy_stamp
from app.ledger.errors import IdempotencyConflict, InvalidRequest
from app.ledger.models import Entry, EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import instant, load_book, refill, run, save_books
from app.program.expiry import Never, expires_at

T = TypeVar("T")


class LedgerUnit:
    """The ledger inside one attempt of the caller's transaction: `session` for the caller's own
    writes, `now` for its timestamps, and the ledger operations."""

    def __init__(
        self, mongo: Mongo, session: AsyncClientSession, now: datetime, key: str, fingerprint: str
    ) -> None:
        self.session = session
        self.now = now
        self._mongo = mongo
        self._key = key
        self._fingerprint = fingerprint
        self._books: dict[str, Book] = {}
        self._operations = 0

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
        reference: str | None = None,
        description: str | None = None,
        actor: str | None = None,
        channel: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Entry:
        """Credit `points` now as a new lot (pending until `available_at`), paying debt first."""
        policy = policy or Never()
        book = await self._book(member_id)
        meta = EntryMeta(actor, channel, reference, description, dict(extra or {}))
        entry = book.credit(
            EntryKind.EARN,
            points,
            self._request(meta),
            earned_at=self.now,
            available_at=None if available_at is None else instant(available_at),
            expires_at=expires_at(policy, self.now, tz),
            policy=policy_stamp(policy, policy_version, tz),
        )
        return Entry.from_document(entry)

    async def _book(self, member_id: str) -> Book:
        if member_id not in self._books:
            self._books[member_id] = await load_book(self._mongo, self.session, member_id, self.now)
        return self._books[member_id]

    def _request(self, meta: EntryMeta) -> Request:
        """The first operation's entry carries the unit's key; later ones derive theirs from it."""
        self._operations += 1
        key = self._key if self._operations == 1 else f"{self._key}#{self._operations}"
        return Request(key, self._fingerprint, meta)

    async def save(self) -> None:
        if self._operations == 0:
            raise InvalidRequest("a ledger unit must record at least one entry to be idempotent")
        await save_books(self._mongo, self.session, self._books.values())


async def run_in_ledger(
    mongo: Mongo,
    clock: Clock,
    work: Callable[[LedgerUnit], Awaitable[T]],
    *,
    idempotency_key: str,
    fingerprint: str,
    replay: Callable[[Entry], Awaitable[T]],
) -> T:
    """Run `work` and save the books it changed in one transaction, once per `idempotency_key`.

    `work` may run more than once (a write conflict reruns the transaction from the start), so
    it must make every write through `unit.session`. The key is global to the ledger: prefix it
    with the caller's area and member (`redeem:<member>:<client key>`).
    """
    now = instant(clock.now())

    async def attempt(session: AsyncClientSession) -> T:
        unit = LedgerUnit(mongo, session, now, idempotency_key, fingerprint)
        result = await work(unit)
        await unit.save()
        return result

    try:
        return await run(mongo, attempt)
    except Exception as exc:
        # Whatever refused a replay (the unique key, or what the first request used up), the
        # answer is the first result; an unused key means the refusal stands.
        first = await mongo["ledger"].find_one({"idempotency_key": idempotency_key})
        if first is None:
            raise
        if first.get("request_hash") != fingerprint:
            raise IdempotencyConflict(idempotency_key) from exc
        return await replay(Entry.from_document(first))
