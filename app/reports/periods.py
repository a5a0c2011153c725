"""Calendar arithmetic of the reports: local days, weeks and months as UTC instants. Pure.

A report's period is a range of local dates, both ends included, in the program's time zone: it
runs from the local midnight starting `first` to the one ending `last`. A day, week (Monday
first, as ISO weeks) or month is keyed by the local date it starts on. Instants are aware UTC,
as stored; BSON dates keep milliseconds, so "as of T" means "recorded at or before T's millisecond".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.clock import to_millisecond

# The dates a report may name: far enough for any program, near enough that every local date
# converts to an instant and back in every time zone.
EARLIEST = date(1970, 1, 2)
LATEST = date(2999, 12, 30)
HOUR = timedelta(hours=1)
UTC_ZONE = ZoneInfo("UTC")


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# The longest period a report covers, in days: by day a year of rows, by week five years, by
# month ten; reports that read the entries themselves (rules, partners, earners) a year.
MAX_DAYS = {Period.DAY: 366, Period.WEEK: 5 * 366, Period.MONTH: 10 * 366}
MAX_RANGE_DAYS = 366
# The most entries a report groups itself on request (top earners not yet counted, earns by rule,
# points by partner): SecantusDB groups 5,000 to 8,000 EARN entries by member or rule a second of
# its CPU (bench/reports.py at 200,000 entries), so about a second. The number in a period comes
# from the rollup (a few small reads); a larger period is refused with ReportTooLarge rather than
# taking the database for seconds to minutes.
MAX_GROUPED = 5_000


class ReportInvalid(ValueError):
    """A report's arguments are out of bounds: `field` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ReportTooLarge(ReportInvalid):
    """The period holds more entries than a report groups on request (MAX_GROUPED)."""

    def __init__(self, entries: int, limit: int) -> None:
        super().__init__(
            "to",
            f"the period holds {entries:,} entries to group, more than the {limit:,} a report "
            "groups on request: ask a shorter period",
        )
        self.entries = entries
        self.limit = limit


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local dates `first` to `last`, both included, in `zone`."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1), self.zone)


def date_range(first: date, last: date, zone: ZoneInfo, max_days: int) -> DateRange:
    """The period from `first` to `last`, refused (ReportInvalid) if reversed, out of bounds or
    longer than `max_days`."""
    for name, value in (("from", first), ("to", last)):
        if not EARLIEST <= value <= LATEST:
            raise ReportInvalid(name, f"dates run from {EARLIEST} to {LATEST}")
    if last < first:
        raise ReportInvalid("to", "the period ends before it starts")
    if (last - first).days + 1 > max_days:
        raise ReportInvalid("to", f"a period of at most {max_days} days")
    return DateRange(first, last, zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day ends (the next one's midnight): "as of a date" excludes it."""
    if not EARLIEST <= day <= LATEST:
        raise ReportInvalid("as_of", f"dates run from {EARLIEST} to {LATEST}")
    return local_midnight(day + timedelta(days=1), zone)


def just_after(at: datetime) -> datetime:
    """The first instant after `at` that BSON can tell from it: "as of T" includes T."""
    if at.tzinfo is None:
        raise ReportInvalid("as_of", "an instant needs a UTC offset")
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-14:00 is in the year 10000 in UTC
        at = datetime.max.replace(tzinfo=UTC)
    if not local_midnight(EARLIEST, UTC_ZONE) <= at < local_midnight(LATEST, UTC_ZONE):
        raise ReportInvalid("as_of", f"instants run from {EARLIEST} to {LATEST}")
    return to_millisecond(at) + timedelta(milliseconds=1)


def period_start(day: date, by: Period) -> date:
    if by is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if by is Period.MONTH:
        return day.replace(day=1)
    return day


def periods(span: DateRange, by: Period) -> Iterator[date]:
    """Every period touching the range, by its first local date (the first may start before it)."""
    current = period_start(span.first, by)
    while current <= span.last:
        yield current
        current = next_period(current, by)


def next_period(day: date, by: Period) -> date:
    if by is Period.MONTH:
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day + timedelta(days=7 if by is Period.WEEK else 1)


def hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def hour_ceil(at: datetime) -> datetime:
    floor = hour_floor(at)
    return floor if floor == at else floor + HOUR


def whole_hour_zone(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether every local midnight in [start, end) falls on a UTC hour: the zone's offset is a
    whole number of hours there (not India's +05:30 or Nepal's +05:45), so each hourly rollup
    bucket lies in one local day. Checked at each UTC midnight: offsets last longer than a day."""
    at = hour_floor(start)
    while True:
        offset = at.astimezone(zone).utcoffset()
        if offset is not None and offset % HOUR:
            return False
        if at >= end:
            return True
        at = min(at + timedelta(days=1), end)
