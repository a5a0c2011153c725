"""Members: profile, phone, tier and status."""

from app.members.access import ACCESS_REVOKED, Revocations
from app.members.admin import (
    MemberErased,
    NewMember,
    PhoneInUse,
    admin_create_member,
    admin_update_member,
    search_members,
    set_member_status,
)
from app.members.erase import begin_erasure, end_erasure, export_member, unfinished_erasures
from app.members.lookup import InvalidMemberReference, find_member, member_query, resolve_member_id
from app.members.manual_tier import set_member_tier
from app.members.models import Member, MemberStatus, TierOverride
from app.members.phones import InvalidPhone, normalise_phone
from app.members.points import ExpiringPoints, expiring_points, get_entry
from app.members.service import (
    InvalidProfile,
    MemberNotFound,
    MemberSuspended,
    check_birthday,
    check_email,
    check_name,
    create_member,
    get_member,
    new_member_id,
    update_profile,
)
from app.members.tier_review import review_tiers
from app.members.tiers import (
    KIND,
    TierChange,
    TierChangeReason,
    as_of,
    get_tier_progress,
    list_tier_changes,
    move_tier_progress,
    qualify,
    qualifying_tally,
    record_qualifying,
    upgrade_tier_since,
)
from app.members.upgrade import upgrade_database

__all__ = [
    "TierOverride",
    "set_member_tier",
    "MemberSuspended",
    "ACCESS_REVOKED",
    "ExpiringPoints",
    "InvalidMemberReference",
    "InvalidPhone",
    "InvalidProfile",
    "KIND",
    "Member",
    "MemberErased",
    "MemberNotFound",
    "MemberStatus",
    "NewMember",
    "PhoneInUse",
    "Revocations",
    "TierChange",
    "TierChangeReason",
    "admin_create_member",
    "admin_update_member",
    "as_of",
    "begin_erasure",
    "check_birthday",
    "check_email",
    "check_name",
    "create_member",
    "end_erasure",
    "expiring_points",
    "export_member",
    "find_member",
    "get_entry",
    "get_member",
    "get_tier_progress",
    "list_tier_changes",
    "member_query",
    "new_member_id",
    "normalise_phone",
    "move_tier_progress",
    "qualify",
    "qualifying_tally",
    "record_qualifying",
    "resolve_member_id",
    "review_tiers",
    "search_members",
    "set_member_status",
    "unfinished_erasures",
    "update_profile",
    "upgrade_database",
    "upgrade_tier_since",
]
