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

import unicodedata
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


# Text a client sends: no control character (NUL, ESC, a line break inside an id breaks the
# terminals, files and screens that show it) and, where something must be named, at least one
# character people can see (a zero-width space or a direction mark alone names nothing).
def invisible(char: str) -> bool:
    """A separator or a format character (a space, zero-width space, joiners, direction marks)."""
    category = unicodedata.category(char)
    return category[0] == "Z" or category == "Cf"


def has_control(text: str) -> bool:
    """Whether `text` holds a control character or a lone surrogate."""
    return not text.isprintable() and any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def trim_invisible(text: str) -> str:
    """`text` without the invisible characters at its ends (a joiner inside stays: it holds emoji
    and some scripts together); empty when nothing in it is visible."""
    start, end = 0, len(text)
    while start < end and invisible(text[start]):
        start += 1
    while end > start and invisible(text[end - 1]):
        end -= 1
    return text[start:end]
