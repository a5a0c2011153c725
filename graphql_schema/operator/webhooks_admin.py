"""Operators manage the brand's event subscriptions (admin scopes webhooks:read, webhooks:write):
`webhookEndpoints`, `webhookEventTypes`, addWebhookEndpoint (its secret in the payload, this
once), pause, resume, delete, test (a ping) and replay. The rules live in app/webhooks; the
refusals go through the one table (graphql_schema/refusals.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry

from app.auth import PrincipalKind, actor_of
from app.config import Environment
from app.webhooks import (
    EVENT_TYPES,
    SUBSCRIBABLE,
    Endpoint,
    add_endpoint,
    delete_endpoint,
    delivery_counts,
    list_endpoints,
    replay,
    send_ping,
    set_paused,
)
from graphql_schema.context import Info
from graphql_schema.permissions import admin_scope, require_kind
from graphql_schema.refusals import as_payload
from graphql_schema.user_errors import UserError

READ, WRITE = "webhooks:read", "webhooks:write"
STATES = ("ready", "waiting", "delivered", "dead")


@strawberry.type
class WebhookDeliveryCounts:
    ready: int
    waiting: int
    delivered: int
    dead: int


@strawberry.type(description="An endpoint of the brand's systems that receives events.")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    event_types: list[str]
    status: str = strawberry.field(description='"active" or "paused".')
    partner_id: str | None = strawberry.field(description="Only events this partner caused.")
    tier: str | None = strawberry.field(description="Only events of members in this tier.")
    description: str
    paused_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    deliveries: WebhookDeliveryCounts = strawberry.field(
        description="Deliveries by state: ready, waiting, delivered, dead."
    )

    @classmethod
    def of(cls, endpoint: Endpoint, counts: dict[str, int] | None = None) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(endpoint.id),
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            status=endpoint.status.value,
            partner_id=endpoint.partner_id,
            tier=endpoint.tier,
            description=endpoint.description,
            paused_reason=endpoint.paused_reason,
            failing_since=endpoint.failing_since,
            created_at=endpoint.created_at,
            deliveries=WebhookDeliveryCounts(**(counts or dict.fromkeys(STATES, 0))),
        )


@strawberry.type(description="An event type of the catalog (docs/events.md).")
class WebhookEventType:
    name: str
    version: int
    description: str


@strawberry.input(description="https only (plain http to localhost outside production).")
class AddWebhookEndpointInput:
    url: str
    event_types: list[str]
    partner_id: str | None = None
    tier: str | None = None
    description: str = ""


@strawberry.input
class WebhookEndpointInput:
    endpoint_id: strawberry.ID


@strawberry.input(description="Send again the events of [since, until) (at most 31 days).")
class ReplayWebhookInput:
    endpoint_id: strawberry.ID
    since: datetime
    until: datetime


@strawberry.type
class AddWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (whsec_...): shown this once, keep it."
    )
    user_errors: list[UserError]


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    user_errors: list[UserError]


@strawberry.type
class TestWebhookPayload:
    delivery_id: str | None = strawberry.field(description="The ping's webhook-id.")
    user_errors: list[UserError]


@strawberry.type
class ReplayWebhookPayload:
    queued: int | None = strawberry.field(description="How many events were queued again.")
    user_errors: list[UserError]


async def resolve_endpoints(info: Info) -> list[WebhookEndpoint]:
    require_kind(info, PrincipalKind.ADMIN, READ)
    mongo = info.context.runtime.mongo
    return [
        WebhookEndpoint.of(e, await delivery_counts(mongo, e.id))
        for e in await list_endpoints(mongo)
    ]


def resolve_event_types() -> list[WebhookEventType]:
    return [
        WebhookEventType(name=name, version=version, description=text)
        for name, (version, text, _) in EVENT_TYPES.items()
        if name in SUBSCRIBABLE
    ]


async def add_mutation(info: Info, input: AddWebhookEndpointInput) -> AddWebhookEndpointPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> AddWebhookEndpointPayload:
        new = await add_endpoint(
            runtime.mongo,
            runtime.clock,
            url=input.url,
            event_types=input.event_types,
            partner_id=input.partner_id,
            tier=input.tier,
            description=input.description,
            actor=actor,
            allow_local_http=runtime.settings.env is not Environment.PRODUCTION,
        )
        return AddWebhookEndpointPayload(
            endpoint=WebhookEndpoint.of(new.endpoint), secret=new.secret, user_errors=[]
        )

    return await as_payload(
        run, lambda e: AddWebhookEndpointPayload(endpoint=None, secret=None, user_errors=e)
    )


def _endpoint_write(
    change: Callable[[Info, str, str], Awaitable[Endpoint | None]],
) -> Callable[[Info, WebhookEndpointInput], Awaitable[WebhookEndpointPayload]]:
    async def mutation(info: Info, input: WebhookEndpointInput) -> WebhookEndpointPayload:
        actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))

        async def run() -> WebhookEndpointPayload:
            endpoint = await change(info, str(input.endpoint_id), actor)
            shown = None if endpoint is None else WebhookEndpoint.of(endpoint)
            return WebhookEndpointPayload(endpoint=shown, user_errors=[])

        return await as_payload(run, lambda e: WebhookEndpointPayload(endpoint=None, user_errors=e))

    return mutation


def _paused(paused: bool) -> Callable[[Info, str, str], Awaitable[Endpoint | None]]:
    async def change(info: Info, endpoint_id: str, actor: str) -> Endpoint | None:
        runtime = info.context.runtime
        return await set_paused(runtime.mongo, runtime.clock, endpoint_id, paused, actor=actor)

    return change


async def _delete(info: Info, endpoint_id: str, actor: str) -> Endpoint | None:
    runtime = info.context.runtime
    await delete_endpoint(runtime.mongo, runtime.clock, endpoint_id, actor=actor)
    return None


async def test_mutation(info: Info, input: WebhookEndpointInput) -> TestWebhookPayload:
    require_kind(info, PrincipalKind.ADMIN, WRITE)
    runtime = info.context.runtime

    async def run() -> TestWebhookPayload:
        sent = await send_ping(runtime.mongo, runtime.clock, str(input.endpoint_id))
        return TestWebhookPayload(delivery_id=sent, user_errors=[])

    return await as_payload(run, lambda e: TestWebhookPayload(delivery_id=None, user_errors=e))


async def replay_mutation(info: Info, input: ReplayWebhookInput) -> ReplayWebhookPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> ReplayWebhookPayload:
        queued = await replay(
            runtime.mongo,
            runtime.clock,
            str(input.endpoint_id),
            input.since,
            input.until,
            actor=actor,
        )
        return ReplayWebhookPayload(queued=queued, user_errors=[])

    return await as_payload(run, lambda e: ReplayWebhookPayload(queued=None, user_errors=e))


webhook_endpoints_field = strawberry.field(
    resolver=resolve_endpoints,
    extensions=admin_scope(READ),
    description="Operators: the webhook endpoints (admin scope webhooks:read); never a secret.",
)
webhook_event_types_field = strawberry.field(
    resolver=resolve_event_types,
    extensions=admin_scope(READ),
    description="Operators: the event types an endpoint may subscribe to (webhooks:read).",
)
add_webhook_endpoint_field = strawberry.mutation(
    resolver=add_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: register an endpoint (webhooks:write); its secret is returned once.",
)
pause_webhook_endpoint_field = strawberry.mutation(
    resolver=_endpoint_write(_paused(True)),
    extensions=admin_scope(WRITE),
    description="Operators: stop delivering to an endpoint; its events keep queueing.",
)
resume_webhook_endpoint_field = strawberry.mutation(
    resolver=_endpoint_write(_paused(False)),
    extensions=admin_scope(WRITE),
    description="Operators: deliver to a paused endpoint again, its queue first.",
)
delete_webhook_endpoint_field = strawberry.mutation(
    resolver=_endpoint_write(_delete),
    extensions=admin_scope(WRITE),
    description="Operators: delete an endpoint and its queue (webhooks:write).",
)
test_webhook_endpoint_field = strawberry.mutation(
    resolver=test_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: send an endpoint a ping event (webhooks:write).",
)
replay_webhook_endpoint_field = strawberry.mutation(
    resolver=replay_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: send an endpoint the events of a time range again (webhooks:write).",
)
