"""Messaging: reaching members outside the app. Each notification is routed to the program's
channels (push, SMS, e-mail) by the member's consent, opt-outs, quiet hours and daily caps; every
message has a delivery record in `messages`; the worker sends them through app/channels and the
brand's push gateway, or, with no provider configured, to the dev inbox. docs/messaging.md."""

from app.messaging.callbacks import (
    Applied,
    record_replies,
    record_reports,
    sms_callback_endpoint,
)
from app.messaging.errors import (
    BadUnsubscribeToken,
    InvalidPolicy,
    InvalidTemplate,
    MessageNotDead,
    MessageNotFound,
    MessagingError,
    TransactionalNeedsAChannel,
    UnknownChannel,
    UnknownEventKind,
    UnknownLanguage,
)
from app.messaging.forget import forget_messages
from app.messaging.kinds import MARKETING, VARIABLES, Channel, EventKind, is_marketing
from app.messaging.policy import (
    LANGUAGES,
    MessagingPolicy,
    get_policy,
    set_policy,
    update_policy,
)
from app.messaging.preferences import (
    OptOut,
    Preferences,
    get_preferences,
    parse_opt_out,
    read_unsubscribe_token,
    unsubscribe,
    unsubscribe_key,
    unsubscribe_token,
    unsubscribe_url,
    update_preferences,
)
from app.messaging.records import (
    MessageRecord,
    MessageTotal,
    Reason,
    Status,
    list_messages,
    message_totals,
    retry_message,
)
from app.messaging.routing import Links, announce, preview, route_new
from app.messaging.sending import (
    DEV_INBOX,
    PushGateway,
    SendPolicy,
    Transports,
    deliver_due,
)
from app.messaging.templates import (
    MessageTemplate,
    Rendered,
    default_template,
    get_template,
    render_template,
    save_template,
)
from app.messaging.web import unsubscribe_endpoint

__all__ = [
    "Applied",
    "record_replies",
    "record_reports",
    "sms_callback_endpoint",
    "DEV_INBOX",
    "LANGUAGES",
    "MARKETING",
    "VARIABLES",
    "BadUnsubscribeToken",
    "Channel",
    "EventKind",
    "InvalidPolicy",
    "InvalidTemplate",
    "Links",
    "MessageNotDead",
    "MessageNotFound",
    "MessageRecord",
    "MessageTemplate",
    "MessageTotal",
    "MessagingError",
    "MessagingPolicy",
    "OptOut",
    "Preferences",
    "PushGateway",
    "Reason",
    "Rendered",
    "SendPolicy",
    "Status",
    "TransactionalNeedsAChannel",
    "Transports",
    "UnknownChannel",
    "UnknownEventKind",
    "UnknownLanguage",
    "announce",
    "default_template",
    "deliver_due",
    "forget_messages",
    "get_policy",
    "get_preferences",
    "get_template",
    "is_marketing",
    "list_messages",
    "message_totals",
    "parse_opt_out",
    "preview",
    "read_unsubscribe_token",
    "render_template",
    "retry_message",
    "route_new",
    "save_template",
    "set_policy",
    "unsubscribe",
    "unsubscribe_endpoint",
    "unsubscribe_key",
    "unsubscribe_token",
    "unsubscribe_url",
    "update_policy",
    "update_preferences",
]
