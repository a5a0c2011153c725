"""`node(id)`: any object by its global id, but only the caller's own; anything else reads as null."""

from __future__ import annotations

import strawberry

from app.members import get_entry
from app.notifications import get_notification
from app.rewards import get_redemption
from graphql_schema.context import Info
from graphql_schema.ids import from_global_id
from graphql_schema.member.ledger import LedgerEntry
from graphql_schema.member.members import Member
from graphql_schema.member.notifications import Notification
from graphql_schema.member.rewards import Redemption, Reward
from graphql_schema.relay import Node


async def resolve_node(info: Info, id: strawberry.ID) -> Node | None:
    """Rewards are public; members, entries, redemptions and notifications resolve only for their
    own member.

    Someone else's object and a missing one answer the same null, so ids cannot be probed.
    """
    type_name, raw_id = from_global_id(id)
    context = info.context
    if type_name == "Reward":
        reward = await context.rewards.load(raw_id)
        return Reward.from_model(reward) if reward else None
    member_id = context.principal.member_id if context.principal else None
    if member_id is None:
        return None
    mongo = context.runtime.mongo
    if type_name == "Member":
        return Member.of(member_id) if raw_id == member_id else None
    if type_name == "LedgerEntry":
        entry = await get_entry(mongo, member_id, raw_id)
        return LedgerEntry.from_model(entry) if entry else None
    if type_name == "Redemption":
        redemption = await get_redemption(mongo, member_id, raw_id)
        return Redemption.from_model(redemption) if redemption else None
    if type_name == "Notification":
        notification = await get_notification(mongo, member_id, raw_id)
        return Notification.from_model(notification) if notification else None
    return None


node_field = strawberry.field(resolver=resolve_node)
