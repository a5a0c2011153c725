"""Builds the Schema: root types, validation rules and error masking, assembled once per process."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.base import get_object_definition
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from graphql_schema import partner
from graphql_schema.client_text import PlainText, request_problem
from graphql_schema.engine.acyclic import AcyclicExecutionContext
from graphql_schema.engine.guard import RequestGuard
from graphql_schema.engine.safety import NoIntrospection, Rules
from graphql_schema.errors import InvalidInput, classify
from graphql_schema.instants import DATE_TIME
from graphql_schema.member import draws as draws_api
from graphql_schema.member import engagement, referrals
from graphql_schema.member.addresses import (
    DeleteAddressPayload,
    SaveAddressPayload,
    delete_address_field,
    save_address_field,
)
from graphql_schema.member.ledger import LedgerEntry
from graphql_schema.member.members import (
    Member,
    UpdateProfilePayload,
    me_field,
    member_field,
    update_profile_field,
)
from graphql_schema.member.message_preferences import (
    NotificationPreferencesPayload,
    update_notification_preferences_field,
)
from graphql_schema.member.nodes import node_field
from graphql_schema.member.notifications import (
    MarkNotificationsReadPayload,
    NotificationSettingsPayload,
    Subscription,
    mark_notifications_read_field,
    register_push_token_field,
    set_notification_consent_field,
    unregister_push_token_field,
)
from graphql_schema.member.program import Program, resolve_program
from graphql_schema.member.redeem import RedeemRewardPayload, redeem_reward_field
from graphql_schema.member.rewards import (
    Redemption,
    RedemptionConnection,
    Reward,
    RewardConnection,
    resolve_rewards,
)
from graphql_schema.member.sessions import (
    LogOutPayload,
    SessionPayload,
    log_in_field,
    log_out_field,
    refresh_session_field,
    sign_up_field,
)
from graphql_schema.operator import (
    campaigns_admin,
    catalog_admin,
    console_link,
    import_admin,
    members_admin,
    messages_admin,
    points_admin,
    segments_admin,
    webhooks_admin,
)
from graphql_schema.operator.admin_program import (
    ProgramVersion,
    ProgramVersionConnection,
    UpdateProgramPayload,
    program_version_field,
    program_versions_field,
    update_program_field,
)
from graphql_schema.operator.audit_log import AuditLogConnection, audit_log_field
from graphql_schema.operator.reports import Reports, reports_field
from graphql_schema.permissions import MemberMutation
from graphql_schema.relay import Node
from graphql_schema.scalars import SCALARS
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
    member_balance: partner.MemberBalance | None = partner.member_balance_field
    quote_offset: partner.OffsetQuote = partner.quote_offset_field
    preview_earn: partner.EarnPreview = partner.preview_earn_field
    partner_order: partner.PartnerOrder | None = partner.partner_order_field
    hold: partner.PointsHold | None = partner.hold_field
    refund: partner.PartnerRefund | None = partner.refund_field
    program_version: ProgramVersion | None = program_version_field
    program_versions: ProgramVersionConnection = program_versions_field
    points_job: points_admin.PointsJobView | None = points_admin.points_job_field
    points_jobs: points_admin.PointsJobConnection = points_admin.points_jobs_field
    import_job: import_admin.ImportJobView | None = import_admin.import_job_field
    import_jobs: import_admin.ImportJobConnection = import_admin.import_jobs_field
    audit_log: AuditLogConnection = audit_log_field
    members: members_admin.MemberConnection = members_admin.members_field
    segments: list[segments_admin.Segment] = segments_admin.segments_field
    segment: segments_admin.Segment | None = segments_admin.segment_field
    campaign_results: campaigns_admin.CampaignResultsView = campaigns_admin.campaign_results_field
    referral_report: referrals.ReferralReport = referrals.referral_report_field
    catalog: catalog_admin.CatalogConnection = catalog_admin.catalog_field
    redemptions: RedemptionConnection = catalog_admin.redemptions_field
    draws: list[draws_api.Draw] = draws_api.draws_field
    all_draws: draws_api.DrawConnection = draws_api.all_draws_field
    reports: Reports | None = reports_field
    webhook_endpoints: list[webhooks_admin.WebhookEndpoint] = webhooks_admin.webhook_endpoints_field
    webhook_event_types: list[webhooks_admin.WebhookEventType] = (
        webhooks_admin.webhook_event_types_field
    )
    member_messages: list[messages_admin.Message] = messages_admin.member_messages_field
    messaging_policy: messages_admin.MessagingPolicyView = messages_admin.messaging_policy_field
    message_totals: list[messages_admin.MessageTotal] = messages_admin.message_totals_field
    message_template: messages_admin.MessageTemplateView = messages_admin.message_template_field
    preview_message_template: messages_admin.RenderedMessage = (
        messages_admin.preview_message_template_field
    )


@strawberry.type
class Mutation:
    redeem_reward: RedeemRewardPayload = redeem_reward_field
    save_address: SaveAddressPayload = save_address_field
    delete_address: DeleteAddressPayload = delete_address_field
    update_profile: UpdateProfilePayload = update_profile_field
    sign_up: SessionPayload = sign_up_field
    log_in: SessionPayload = log_in_field
    refresh_session: SessionPayload = refresh_session_field
    log_out: LogOutPayload = log_out_field
    register_push_token: NotificationSettingsPayload = register_push_token_field
    unregister_push_token: NotificationSettingsPayload = unregister_push_token_field
    set_notification_consent: NotificationSettingsPayload = set_notification_consent_field
    mark_notifications_read: MarkNotificationsReadPayload = mark_notifications_read_field
    record_purchase: partner.RecordPurchasePayload = partner.record_purchase_field
    record_refund: partner.RecordRefundPayload = partner.record_refund_field
    hold_points: partner.HoldPointsPayload = partner.hold_points_field
    capture_points: partner.CapturePointsPayload = partner.capture_points_field
    release_points: partner.HoldPointsPayload = partner.release_points_field
    register_partner: partner.RegisterPartnerPayload = partner.register_partner_field
    update_program: UpdateProgramPayload = update_program_field
    check_in: engagement.CheckInPayload = engagement.check_in_field
    record_activity: engagement.RecordActivityPayload = engagement.record_activity_field
    adjust_points: points_admin.AdjustPointsPayload = points_admin.adjust_points_field
    extend_expiry: points_admin.BulkPointsPayload = points_admin.extend_expiry_field
    clear_points: points_admin.BulkPointsPayload = points_admin.clear_points_field
    create_member: members_admin.MemberAdminPayload = members_admin.create_member_field
    update_member: members_admin.MemberAdminPayload = members_admin.update_member_field
    suspend_member: members_admin.MemberAdminPayload = members_admin.suspend_member_field
    reactivate_member: members_admin.MemberAdminPayload = members_admin.reactivate_member_field
    erase_member: members_admin.MemberAdminPayload = members_admin.erase_member_field
    set_member_tier: members_admin.MemberAdminPayload = members_admin.set_member_tier_field
    save_segment: segments_admin.SegmentPayload = segments_admin.save_segment_field
    delete_segment: segments_admin.DeleteSegmentPayload = segments_admin.delete_segment_field
    export_member: members_admin.ExportMemberPayload = members_admin.export_member_field
    create_reward: catalog_admin.RewardAdminPayload = catalog_admin.create_reward_field
    update_reward: catalog_admin.RewardAdminPayload = catalog_admin.update_reward_field
    move_stock: catalog_admin.RewardAdminPayload = catalog_admin.move_stock_field
    add_coupons: catalog_admin.AddCouponsPayload = catalog_admin.add_coupons_field
    cancel_redemption: catalog_admin.RedemptionAdminPayload = catalog_admin.cancel_redemption_field
    use_coupon: catalog_admin.RedemptionAdminPayload = catalog_admin.use_coupon_field
    update_redemption: catalog_admin.RedemptionAdminPayload = catalog_admin.update_redemption_field
    update_fulfilment: catalog_admin.RedemptionAdminPayload = catalog_admin.update_fulfilment_field
    confirm_redemption_payment: catalog_admin.RedemptionAdminPayload = (
        catalog_admin.confirm_payment_field
    )
    fail_redemption_payment: catalog_admin.RedemptionAdminPayload = catalog_admin.fail_payment_field
    refund_redemption_payment: catalog_admin.RedemptionAdminPayload = (
        catalog_admin.refund_payment_field
    )
    upload_tracking_numbers: catalog_admin.UploadTrackingNumbersPayload = (
        catalog_admin.upload_tracking_numbers_field
    )
    enter_draw: draws_api.EnterDrawPayload = draws_api.enter_draw_field
    create_draw: draws_api.DrawAdminPayload = draws_api.create_draw_field
    close_draw: draws_api.DrawAdminPayload = draws_api.close_draw_field
    update_draw: draws_api.DrawAdminPayload = draws_api.update_draw_field
    import_members: import_admin.ImportMembersPayload = import_admin.import_members_field
    start_import: import_admin.StartImportPayload = import_admin.start_import_field
    open_console_link: console_link.OpenConsoleLinkPayload = console_link.open_console_link_field
    add_webhook_endpoint: webhooks_admin.AddWebhookEndpointPayload = (
        webhooks_admin.add_webhook_endpoint_field
    )
    pause_webhook_endpoint: webhooks_admin.WebhookEndpointPayload = (
        webhooks_admin.pause_webhook_endpoint_field
    )
    resume_webhook_endpoint: webhooks_admin.WebhookEndpointPayload = (
        webhooks_admin.resume_webhook_endpoint_field
    )
    delete_webhook_endpoint: webhooks_admin.WebhookEndpointPayload = (
        webhooks_admin.delete_webhook_endpoint_field
    )
    test_webhook_endpoint: webhooks_admin.TestWebhookPayload = (
        webhooks_admin.test_webhook_endpoint_field
    )
    replay_webhook_endpoint: webhooks_admin.ReplayWebhookPayload = (
        webhooks_admin.replay_webhook_endpoint_field
    )
    update_notification_preferences: NotificationPreferencesPayload = (
        update_notification_preferences_field
    )
    retry_message: messages_admin.RetryMessagePayload = messages_admin.retry_message_field
    update_messaging_policy: messages_admin.MessagingPolicyPayload = (
        messages_admin.update_messaging_policy_field
    )
    upsert_message_template: messages_admin.MessageTemplatePayload = (
        messages_admin.upsert_message_template_field
    )


class JifenSchema(strawberry.Schema):
    # The request guard's own validation rules (build_schema sets them); the lean path for
    # queries (engine/fast_query.py) validates with them too.
    request_rules: Rules = ()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        classify(errors)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Queries and mutations (HTTP); a subscription is only served by `stream` (WebSocket)."""
        problem = request_problem(query, variable_values, operation_name, operation_extensions)
        if problem is not None:
            return ExecutionResult(data=None, errors=[InvalidInput(problem)])
        allowed = set(allowed_operation_types or OperationType) - {OperationType.SUBSCRIPTION}
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """What graphql-transport-ws runs (subscriptions), its text refused as `execute`'s is."""
        problem = request_problem(query, variable_values, operation_name, operation_extensions)
        if problem is not None:
            return _refused(InvalidInput(problem))
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        # graphql-core's execute() would otherwise suggest enum values when coercing variables.
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        kwargs["hide_suggestions"] = True
        return kwargs


async def _refused(error: GraphQLError) -> AsyncGenerator[PreExecutionError, None]:
    yield PreExecutionError(data=None, errors=[error])


def member_mutation_fields() -> frozenset[str]:
    """The GraphQL names of the Mutation fields MemberMutation guards: those the limit counts."""
    definition = get_object_definition(Mutation, strict=True)
    names = NameConverter()
    return frozenset(
        names.get_graphql_name(field)
        for field in definition.fields
        if any(
            isinstance(permission, type) and issubclass(permission, MemberMutation)
            for permission in field.permission_classes
        )
    )


@functools.cache
def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    """The schema, built once per process for each `introspection`: strawberry takes about 80 ms
    to build it (its schema directives are collected type by type), which every app created in
    one process (the tests create hundreds) paid again. Nothing in it belongs to one app: its
    extensions are factories, made anew per request."""
    # Built once here, so every request validates with the very same tuple (see engine/safety.py).
    rules: Rules = (PlainText,) if introspection else (PlainText, NoIntrospection)
    limited = member_mutation_fields()
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: RequestGuard(rules, limited)
    ]
    schema_kwargs: dict[str, Any] = {
        "query": Query,
        "mutation": Mutation,
        "subscription": Subscription,
        "types": [Member, LedgerEntry, Reward, Redemption, *ALL_ERROR_TYPES],
        "extensions": extensions,
        "execution_context_class": AcyclicExecutionContext,
        "config": StrawberryConfig(scalar_map={**SCALARS, datetime: DATE_TIME}),
    }
    built = JifenSchema(**schema_kwargs)
    built.request_rules = rules
    return built


schema = build_schema()
