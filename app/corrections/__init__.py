"""Staff operations on members' points: corrections of one member (adjust, extend, clear) and bulk
清零 or extension over a filter as resumable jobs. Points move only through app.ledger."""

from app.corrections.bulk import (
    TXN_MEMBERS,
    JobBusy,
    JobKind,
    JobNotFound,
    JobStatus,
    PointsJob,
    create_job,
    get_job,
    list_jobs,
    run_due_jobs,
    run_job,
)
from app.corrections.member import (
    InvalidCorrection,
    InvalidKey,
    adjust_points,
    clear_member,
    extend_expiry,
)
from app.corrections.selection import InvalidFilter, MemberFilter, Preview, preview

__all__ = [
    "InvalidKey",
    "TXN_MEMBERS",
    "InvalidCorrection",
    "InvalidFilter",
    "JobBusy",
    "JobKind",
    "JobNotFound",
    "JobStatus",
    "MemberFilter",
    "PointsJob",
    "Preview",
    "adjust_points",
    "clear_member",
    "create_job",
    "extend_expiry",
    "get_job",
    "list_jobs",
    "preview",
    "run_due_jobs",
    "run_job",
]
