"""Notifications: expiry warnings and events, their live fan-out, and the push/webhook outbox."""

from app.notifications.events import event_stream, notify_event
from app.notifications.forget import forget_notifications
from app.notifications.hub import NotificationHub
from app.notifications.live import expiry_warning_stream
from app.notifications.outbox import GatewayResponse, dispatch_due, retry_dead
from app.notifications.service import (
    DeviceNotFound,
    InvalidPushToken,
    NotANotificationId,
    Notification,
    PushPlatform,
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
    "NotANotificationId",
    "DeviceNotFound",
    "GatewayResponse",
    "InvalidPushToken",
    "Notification",
    "NotificationHub",
    "PushPlatform",
    "days_left",
    "dispatch_due",
    "event_stream",
    "expiry_warning_stream",
    "forget_notifications",
    "get_notification",
    "issue_expiry_warnings",
    "list_notifications",
    "mark_notifications_read",
    "notify_event",
    "register_push_token",
    "retry_dead",
    "set_notification_consent",
    "unregister_push_token",
    "warnings_today",
]
