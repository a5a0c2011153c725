"""Program configuration: tiers, expiry policies, earn rules; the pure rules live here without I/O."""

from app.program.diff import Change, config_of
from app.program.earning import issue_terms
from app.program.models import (
    Activity,
    Campaign,
    CheckIn,
    EarnRules,
    Exclusions,
    PayWithPoints,
    Program,
    Recurrence,
    Tier,
)
from app.program.rules import EarnResult, MemberFacts, Purchase, PurchaseLine, compute_earn
from app.program.service import (
    CURRENT_ID,
    Applied,
    NoteTooLong,
    ProgramNotConfigured,
    ProgramRequestConflict,
    ProgramVersionNotFound,
    VersionStamp,
    apply_program,
    check_change,
    current_program,
    get_program,
    list_versions,
    preview_program,
    save_program,
)
from app.program.validation import ProgramInvalid, parse_program

__all__ = [
    "NoteTooLong",
    "check_change",
    "Activity",
    "Applied",
    "CURRENT_ID",
    "Campaign",
    "Change",
    "CheckIn",
    "EarnResult",
    "EarnRules",
    "Exclusions",
    "MemberFacts",
    "PayWithPoints",
    "Program",
    "ProgramInvalid",
    "ProgramNotConfigured",
    "ProgramRequestConflict",
    "ProgramVersionNotFound",
    "Purchase",
    "PurchaseLine",
    "Recurrence",
    "Tier",
    "VersionStamp",
    "apply_program",
    "compute_earn",
    "config_of",
    "current_program",
    "get_program",
    "issue_terms",
    "list_versions",
    "parse_program",
    "preview_program",
    "save_program",
]
