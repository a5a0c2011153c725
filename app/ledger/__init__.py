"""The points ledger: lots, append-only entries and the account balances derived from them.

Public services (async, taking the Mongo handle and a Clock); each runs in one transaction
through the retrying runner and is idempotent under its key. Other areas that move points
together with writes of their own (redemption, draws, partners) use `run_in_ledger`: ledger
operations inside their own transaction, idempotent under their key (see unit.py).
"""

from app.bounds import INT32_MAX, MAX_ACCOUNT_POINTS, MAX_ENTRY_POINTS
from app.ledger.accounts import (
    BY_ID_AT_MOST,
    AccountActivity,
    FirstHold,
    HistoryPage,
    account_activity,
    account_points,
    all_account_activity,
    first_hold,
    get_balance,
    holds_live,
    list_entries,
    member_entry,
    members_recorded_after,
    overdue_by_member,
    overdue_points,
)
from app.ledger.adjust import adjust, clear, extend
from app.ledger.counters import NO_ACCOUNT, AccountCounters, account_counters
from app.ledger.earn import earn
from app.ledger.errors import (
    AccountClosed,
    AccountFrozen,
    CaptureExceedsHold,
    EntryNotFound,
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidPoints,
    InvalidRequest,
    LedgerError,
    PointsLimitExceeded,
    ReversalExceedsEarn,
)
from app.ledger.expire import expire_due, mature_due
from app.ledger.expiring import expiring_by_instant, expiring_by_member
from app.ledger.expiry import ExpiryPolicySet, Inactivity, Never, PeriodEnd, Rolling
from app.ledger.freeze import close_account, set_frozen
from app.ledger.holds import capture, get_hold, hold, release, release_expired_holds
from app.ledger.models import (
    Balance,
    BreakdownLine,
    Drift,
    Entry,
    EntryKind,
    Hold,
    HoldStatus,
    JobRun,
    LotShare,
    LotStatus,
    NextExpiry,
    Refund,
)
from app.ledger.opening import (
    OpeningBooks,
    OpeningEarn,
    build_books,
    discard_unfinished,
    open_books,
    write_books,
)
from app.ledger.redact import redact_entries
from app.ledger.reverse import reverse
from app.ledger.spend import spend
from app.ledger.store import instant
from app.ledger.tally import Tally, move_tally, read_tally, tallies_due, write_tally
from app.ledger.unit import FirstEntry, LedgerUnit, first_entry, run_in_ledger
from app.ledger.upgrade import SHAPE as LEDGER_SHAPE
from app.ledger.upgrade import upgrade_books
from app.ledger.verify import verify_balances

__all__ = [
    "AccountCounters",
    "NO_ACCOUNT",
    "account_counters",
    "BY_ID_AT_MOST",
    "AccountActivity",
    "FirstHold",
    "account_activity",
    "all_account_activity",
    "account_points",
    "members_recorded_after",
    "first_hold",
    "holds_live",
    "member_entry",
    "LEDGER_SHAPE",
    "INT32_MAX",
    "MAX_ACCOUNT_POINTS",
    "MAX_ENTRY_POINTS",
    "PointsLimitExceeded",
    "redact_entries",
    "OpeningBooks",
    "OpeningEarn",
    "discard_unfinished",
    "open_books",
    "build_books",
    "write_books",
    "AccountFrozen",
    "Balance",
    "BreakdownLine",
    "CaptureExceedsHold",
    "Drift",
    "Entry",
    "EntryKind",
    "EntryNotFound",
    "Hold",
    "HoldNotActive",
    "HoldNotFound",
    "HoldStatus",
    "HistoryPage",
    "IdempotencyConflict",
    "InsufficientPoints",
    "InvalidPoints",
    "InvalidRequest",
    "JobRun",
    "LedgerError",
    "LedgerUnit",
    "LotShare",
    "LotStatus",
    "NextExpiry",
    "Refund",
    "ReversalExceedsEarn",
    "adjust",
    "capture",
    "clear",
    "expiring_by_instant",
    "expiring_by_member",
    "earn",
    "expire_due",
    "extend",
    "get_balance",
    "get_hold",
    "hold",
    "instant",
    "list_entries",
    "overdue_points",
    "overdue_by_member",
    "mature_due",
    "release",
    "release_expired_holds",
    "reverse",
    "run_in_ledger",
    "FirstEntry",
    "first_entry",
    "spend",
    "upgrade_books",
    "verify_balances",
    "set_frozen",
    "close_account",
    "AccountClosed",
    "ExpiryPolicySet",
    "Inactivity",
    "Never",
    "PeriodEnd",
    "Rolling",
    "Tally",
    "move_tally",
    "read_tally",
    "tallies_due",
    "write_tally",
]
