"""The ledger's typed errors: each carries the numbers a client needs to explain it."""

from __future__ import annotations


class LedgerError(Exception):
    """A request the ledger refuses; nothing was changed."""


class InvalidRequest(LedgerError):
    """The request itself is malformed (a bad TTL, a naive instant); the message says what."""


class InvalidPoints(InvalidRequest):
    def __init__(self, points: int, rule: str = "must be positive") -> None:
        super().__init__(f"points {rule}: {points}")
        self.points = points


class PointsLimitExceeded(LedgerError):
    """More points than one entry, or one account, may hold (app.bounds).

    `scope` is "entry" (the operation's own points) or "account" (what a balance, the debt or the
    lifetime earnings would reach); `points` is that figure, `limit` its bound.
    """

    def __init__(self, scope: str, limit: int, points: int) -> None:
        super().__init__(f"{points} points is more than one {scope} may hold ({limit})")
        self.scope = scope
        self.limit = limit
        self.points = points


class InsufficientPoints(LedgerError):
    def __init__(self, available: int, requested: int) -> None:
        super().__init__(f"{requested} points requested, {available} available")
        self.available = available
        self.requested = requested


class AccountFrozen(LedgerError):
    """The member is suspended (or erased): their points cannot be spent or held."""

    def __init__(self, member_id: str) -> None:
        super().__init__(f"the account of {member_id} is frozen")
        self.member_id = member_id


class AccountClosed(AccountFrozen):
    """The member was erased: their ledger takes no new entry but a refund's reversal and 清零,
    which take points off the books on purpose, with their reason. A closed account is frozen
    too: whoever refuses a frozen account refuses this one."""

    def __init__(self, member_id: str) -> None:
        LedgerError.__init__(self, f"the account of {member_id} is closed: the member was erased")
        self.member_id = member_id


class IdempotencyConflict(LedgerError):
    """The key was already used for a different request."""

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"idempotency key {idempotency_key!r} was used for a different request")
        self.idempotency_key = idempotency_key


class HoldNotFound(LedgerError):
    def __init__(self, hold_id: str) -> None:
        super().__init__(f"no hold {hold_id}")
        self.hold_id = hold_id


class HoldNotActive(LedgerError):
    def __init__(self, hold_id: str, status: str) -> None:
        super().__init__(f"hold {hold_id} is {status}")
        self.hold_id = hold_id
        self.status = status


class CaptureExceedsHold(LedgerError):
    def __init__(self, held: int, requested: int) -> None:
        super().__init__(f"capture of {requested} points exceeds the {held} held")
        self.held = held
        self.requested = requested


class EntryNotFound(LedgerError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no earn entry {entry_id}")
        self.entry_id = entry_id


class ReversalExceedsEarn(LedgerError):
    def __init__(self, reversible: int, requested: int) -> None:
        super().__init__(f"reversal of {requested} points exceeds the {reversible} left to reverse")
        self.reversible = reversible
        self.requested = requested
