"""The terms points are issued under: the expiry policy of the member's tier at the time of the earn.

Pure. The partner API (and any other earn) asks `issue_terms` for the policy, the version to stamp
on the lot and the time zone its calendar arithmetic uses. The version stamped is the PROGRAM's
version, so a lot says which configuration issued it; its expiry instant is computed once at issue
(app.ledger.expiry), so a later program version never moves the expiry of points already issued.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from app.ledger import Inactivity, Never, PeriodEnd, Rolling
from app.program.models import Program


class IssueTerms(NamedTuple):
    policy: Rolling | PeriodEnd | Inactivity | Never
    policy_version: int
    tz: str
    return_window: timedelta  # earned points stay pending this long (zero: available at once)


def issue_terms(program: Program, tier_code: str | None) -> IssueTerms:
    """The terms of points earned now by a member of tier `tier_code` (the default policy for a
    tier without its own, or an unknown one)."""
    return IssueTerms(
        policy=program.expiry.for_tier(tier_code),
        policy_version=program.version,
        tz=program.timezone,
        return_window=timedelta(days=program.return_window_days),
    )
