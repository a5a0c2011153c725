"""Builds the Schema: root types, validation rules and error masking, assembled once per process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.types import ExecutionContext

from graphql_schema.errors import MaskInternalErrors, log_unexpected, should_mask
from graphql_schema.ledger import LedgerEntry
from graphql_schema.members import (
    Member,
    UpdateProfilePayload,
    me_field,
    member_field,
    update_profile_field,
)
from graphql_schema.nodes import node_field
from graphql_schema.notifications import (
    MarkNotificationsReadPayload,
    NotificationSettingsPayload,
    Subscription,
    mark_notifications_read_field,
    register_push_token_field,
    set_notification_consent_field,
    unregister_push_token_field,
)
from graphql_schema.program import Program, resolve_program
from graphql_schema.redeem import RedeemRewardPayload, redeem_reward_field
from graphql_schema.relay import Node
from graphql_schema.rewards import Redemption, Reward, RewardConnection, resolve_rewards
from graphql_schema.safety import ALIAS_RULE, DEPTH_RULE, GuardedValidation, Rules
from graphql_schema.sessions import (
    LogOutPayload,
    SessionPayload,
    log_in_field,
    log_out_field,
    refresh_session_field,
    sign_up_field,
)
from graphql_schema.user_errors import ALL_ERROR_TYPES


@strawberry.type
class Query:
    me: Member = me_field
    rewards: RewardConnection = strawberry.field(
        resolver=resolve_rewards,
        description="The reward catalog (积分商城): active rewards, cheapest first unless sorted otherwise.",
    )
    program: Program = strawberry.field(
        resolver=resolve_program,
        description="Public facts about the program: tiers and how points are earned.",
    )
    node: Node | None = node_field
    member: Member | None = member_field


@strawberry.type
class Mutation:
    redeem_reward: RedeemRewardPayload = redeem_reward_field
    update_profile: UpdateProfilePayload = update_profile_field
    sign_up: SessionPayload = sign_up_field
    log_in: SessionPayload = log_in_field
    refresh_session: SessionPayload = refresh_session_field
    log_out: LogOutPayload = log_out_field
    register_push_token: NotificationSettingsPayload = register_push_token_field
    unregister_push_token: NotificationSettingsPayload = unregister_push_token_field
    set_notification_consent: NotificationSettingsPayload = set_notification_consent_field
    mark_notifications_read: MarkNotificationsReadPayload = mark_notifications_read_field


class JifenSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        # graphql-core's execute() would otherwise suggest enum values when coercing variables.
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        kwargs["hide_suggestions"] = True
        return kwargs


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    # Built once here, so every request validates with the very same tuple (see safety.py).
    rules: Rules = (DEPTH_RULE, ALIAS_RULE)
    if not introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: GuardedValidation(rules),
        lambda: ParserCache(maxsize=512),
        lambda: MaskInternalErrors(
            should_mask_error=should_mask, error_message="Internal server error."
        ),
    ]
    schema_kwargs: dict[str, Any] = {
        "query": Query,
        "mutation": Mutation,
        "subscription": Subscription,
        "types": [Member, LedgerEntry, Reward, Redemption, *ALL_ERROR_TYPES],
        "extensions": extensions,
    }
    return JifenSchema(**schema_kwargs)


schema = build_schema()
