"""The spending order as one sortable string per lot, and the key ranges that read it narrowly.

Points are spent in this order (and holds reserve in it):
1. points with a fixed expiry (rolling, period end), soonest expiry instant first;
2. points that expire after inactivity, by policy: any earn or spend renews them, so they are
   kept while points with a fixed date are used up;
3. points that never expire.
Within one expiry instant (or one inactivity policy, or never), the points issued first go first.

Each lot stores its place as `order`: "D<expiry to the ms>|<seq>", "I<policy>|<seq>" or
"N|<seq>", where seq is the lot's number among the member's lots (assigned at issue from the
account, so later lots sort later). A range of `order` under the (member_id, status, order)
index is one narrow index scan; SecantusDB does not stop a scan at `limit`, so every read of
lots is a range whose bounds are computed from what the account knows, never a sort and a limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

DATED, INACTIVITY, NEVER = "D", "I", "N"
END = "~"  # sorts after every digit and letter used in keys
SEQ_WIDTH = 12
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def instant_part(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y%m%d%H%M%S") + f"{at.microsecond // 1000:03d}"


def lot_key(seq: int, expires_at: datetime | None, inactivity: str | None) -> str:
    """The lot's place in the spending order (see the module docstring)."""
    tail = f"|{seq:0{SEQ_WIDTH}d}"
    if inactivity is not None:
        return f"{INACTIVITY}{inactivity}{tail}"
    if expires_at is None:
        return f"{NEVER}{tail}"
    return f"{DATED}{instant_part(expires_at)}{tail}"


def mass_of(key: str) -> str:
    """The key's prefix shared by every lot of the same expiry instant (or policy, or never)."""
    return key[: key.index("|") + 1]


def seq_of(key: str) -> int:
    return int(key[key.index("|") + 1 :])


def mass_end(key: str) -> str:
    return mass_of(key) + END


def dated_bound(at: datetime) -> str:
    """Every dated key expiring at or before `at` sorts at or before this."""
    return f"{DATED}{instant_part(at)}|{END}"


def expiry_of(key: str) -> datetime | None:
    """The expiry instant of a dated key, None for other classes."""
    if not key.startswith(DATED):
        return None
    raw = key[1 : key.index("|")]
    at = datetime.strptime(raw[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return at + timedelta(milliseconds=int(raw[14:]))


def class_range(inactivity: str) -> tuple[str, str]:
    return f"{INACTIVITY}{inactivity}|", f"{INACTIVITY}{inactivity}|{END}"


def search_ranges(
    after: str, now: datetime, lots_issued: int, classes: list[str], window: int
) -> Iterator[tuple[str, str]]:
    """Ranges (exclusive, inclusive] that together cover every key after `after`, nearest first.

    The caller reads them one by one until it has found enough lots. Near ranges are small so that
    the usual case (the next lots sit right after `after`) is one narrow read: first the rest of
    `after`'s instant by sequence number, then expiry windows that grow fourfold, then each
    inactivity policy and the never-expiring points by sequence windows.
    """
    low = after
    if low.startswith(DATED) or low < DATED:
        if low.startswith(DATED):
            upper = f"{mass_of(low)}{seq_of(low) + window:0{SEQ_WIDTH}d}"
            yield low, upper
            low = upper
            start = expiry_of(low) or now
        else:
            start = now
        span = timedelta(hours=1)
        while span < FAR_FUTURE - start:  # (start + span could pass the last date there is)
            upper = dated_bound(start + span)
            if upper > low:
                yield low, upper
                low = upper
            span *= 4
        yield low, DATED + END
        low = DATED + END
    for cls in sorted(classes):
        first, last = class_range(cls)
        if last <= low:
            continue
        yield from _by_sequence(max(low, first), last, lots_issued, window)
        low = last
    first, last = f"{NEVER}|", f"{NEVER}|{END}"
    if low < last:
        yield from _by_sequence(max(low, first), last, lots_issued, window)


def _by_sequence(low: str, last: str, lots_issued: int, window: int) -> Iterator[tuple[str, str]]:
    """Windows of sequence numbers over one mass, growing fourfold, up to its end."""
    prefix = mass_of(last)
    seq = seq_of(low) if low.startswith(prefix) and low != prefix else 0
    while seq + window < lots_issued:
        upper = f"{prefix}{seq + window:0{SEQ_WIDTH}d}"
        yield low, upper
        low, seq, window = upper, seq + window, window * 4
    yield low, last
