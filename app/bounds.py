"""The product's bounds on numbers: how many points one entry and one account may hold, how much
stock a reward, how far a budget. A product decision, kept in one place (docs/bounds.md lists
every bound a client meets, with the error past it).

An entry (an earn, a spend, a hold, an adjustment, a reward's price, a prize) moves at most
MAX_ENTRY_POINTS; an account's balances (available + pending + held), its debt and its lifetime
earnings stay within MAX_ACCOUNT_POINTS. Both are far below GraphQL's 32-bit Int (2,147,483,647),
the type of every member-facing figure (the member-app contract types them Int!), so whatever the
ledger accepts every read path can show. Sums over many accounts (reports, a bulk 清零, an import)
are not bounded by these: they are BigInt.

The ledger refuses an operation past a bound with PointsLimitExceeded before anything is written;
the jobs (expiry, maturing) only move points within an account and are never refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

MAX_ENTRY_POINTS = 100_000_000  # 10^8: one entry, one hold, one reward's price, one import row
MAX_ACCOUNT_POINTS = 1_000_000_000  # 10^9: an account's balance, its debt, its lifetime earnings
MAX_STOCK = 1_000_000_000  # units of one reward or one prize
MAX_BUDGET = 1_000_000_000_000  # 10^12: the points one campaign may give, over all members
INT32_MAX = 2**31 - 1  # GraphQL's Int: every account figure fits, with room to spare
# Characters of an idempotency key (and of a partner's refund id or activity reference): the one
# bound every field taking a key checks. Draws, the catalog and member administration have
# accepted keys of up to 200 characters since they were written; that bound is kept (a lower one
# would refuse keys clients may already send) until the product settles on one.
MAX_KEY_LENGTH = 128
MAX_KEY_LENGTH_WIDE = 200


class KeyOutOfBounds(ValueError):
    """A key (or a reference) empty or longer than its bound; `field` names it."""

    def __init__(self, message: str, field: str = "idempotency_key") -> None:
        super().__init__(message)
        self.field = field


# An instant an operator sets on the catalog or a draw (a reward's active window, a draw's start
# and end) lies in the years 2000 to 2199: year 1 and year 9999 are typing slips that nothing can
# later add a day to. Checked on write; whatever is stored stays readable.
EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive


def in_calendar(at: datetime | None) -> bool:
    """Whether `at` (None: not set) lies within [EARLIEST_INSTANT, LATEST_INSTANT)."""
    return at is None or EARLIEST_INSTANT <= at < LATEST_INSTANT
