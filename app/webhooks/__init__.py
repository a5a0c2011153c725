"""Event subscriptions (webhooks) for the brand's systems: endpoints operators register, the
fan-out of the event log (app/event_log.py) to them, and delivery signed per the Standard
Webhooks specification, at least once and in order per member (docs/events.md)."""

from app.webhooks.addresses import (
    PrivateAddress,
    Resolve,
    is_public,
    system_resolve,
    webhook_client,
)
from app.webhooks.catalog import EVENT_TYPES, SUBSCRIBABLE
from app.webhooks.delivery import (
    DEAD,
    DELIVERED,
    READY,
    WAITING,
    DeliveryPolicy,
    deliver_due,
    delivery_counts,
    fan_out,
    payload,
    purge,
    replay,
    send_ping,
)
from app.webhooks.endpoints import (
    MAX_EVENT_TYPES,
    MAX_URL_LENGTH,
    Endpoint,
    EndpointStatus,
    NewEndpoint,
    add_endpoint,
    check_url,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    set_paused,
)
from app.webhooks.errors import EndpointNotFound, InvalidEndpoint, InvalidReplay, WebhookError
from app.webhooks.forget import forget_events

__all__ = [
    "PrivateAddress",
    "Resolve",
    "is_public",
    "system_resolve",
    "webhook_client",
    "check_url",
    "forget_events",
    "DEAD",
    "DELIVERED",
    "EVENT_TYPES",
    "MAX_EVENT_TYPES",
    "MAX_URL_LENGTH",
    "READY",
    "SUBSCRIBABLE",
    "WAITING",
    "DeliveryPolicy",
    "Endpoint",
    "EndpointNotFound",
    "EndpointStatus",
    "InvalidEndpoint",
    "InvalidReplay",
    "NewEndpoint",
    "WebhookError",
    "add_endpoint",
    "delete_endpoint",
    "deliver_due",
    "delivery_counts",
    "fan_out",
    "get_endpoint",
    "list_endpoints",
    "payload",
    "purge",
    "replay",
    "send_ping",
    "set_paused",
]
