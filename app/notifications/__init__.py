"""Notifications: expiry warnings and events, their live fan-out, and the push/webhook outbox."""

from app.notifications.events import event_stream, notify_event
from app.notifications.forget import forget_notifications
from app.notifications.hub import NotificationHub
from app.notifications.live import expiry_warning_stream
from app.notifications.outbox import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    GatewayResponse,
    OutboxPolicy,
    dispatch_due,
    retry_dead,
    sign,
)
from app.notifications.routing import mark_routed, pushed_by_outbox, unrouted_notifications
from app.notifications.service import (
    DeviceNotFound,
    InvalidPushToken,
    NotANotificationId,
    Notification,
    PushPlatform,
    device_key,
    get_notification,
    list_notifications,
    mark_notifications_read,
    register_push_token,
    set_notification_consent,
    unregister_push_token,
)
from app.notifications.today import warnings_today
from app.notifications.warnings import days_left, issue_expiry_warnings

__all__ = [
    "OutboxPolicy",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "NotANotificationId",
    "DeviceNotFound",
    "GatewayResponse",
    "InvalidPushToken",
    "Notification",
    "NotificationHub",
    "PushPlatform",
    "days_left",
    "device_key",
    "dispatch_due",
    "event_stream",
    "expiry_warning_stream",
    "forget_notifications",
    "get_notification",
    "issue_expiry_warnings",
    "list_notifications",
    "mark_routed",
    "mark_notifications_read",
    "notify_event",
    "pushed_by_outbox",
    "register_push_token",
    "retry_dead",
    "sign",
    "set_notification_consent",
    "unregister_push_token",
    "unrouted_notifications",
    "warnings_today",
]
