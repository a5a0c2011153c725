"""Channels: the transports that reach a member outside the app (e-mail, SMS), and the templates
their messages are written from. A foundation package: it knows nothing of members, programs or
the ledger; the domain decides who gets what on which channel and hands over finished values.

Every adapter's `send` answers a `Delivery` (app/channels/delivery.py), whose `Outcome` tells the
outbox to be done, to retry later, or to stop trying this recipient or this message.
"""

from app.channels.delivery import Delivery, Outcome
from app.channels.email import (
    EmailMessage,
    HeaderInjection,
    InvalidAddress,
    MailerMisconfigured,
    MessageRefused,
    MessageTooLarge,
    SmtpMailer,
    check_address,
    check_message,
    configured_mailer,
)
from app.channels.templates import (
    ALLOWED_FILTERS,
    MEMBER_VARIABLES,
    ConstructNotAllowed,
    OutputTooLong,
    RenderRefused,
    TemplateDoesNotParse,
    TemplateError,
    TemplateFormat,
    TemplateTooLong,
    UndeclaredVariable,
    UnknownTimeZone,
    VariableKind,
    VariableRefused,
    check_template,
    render,
)

__all__ = [
    "ALLOWED_FILTERS",
    "MEMBER_VARIABLES",
    "ConstructNotAllowed",
    "OutputTooLong",
    "RenderRefused",
    "TemplateDoesNotParse",
    "TemplateError",
    "TemplateFormat",
    "TemplateTooLong",
    "UndeclaredVariable",
    "UnknownTimeZone",
    "VariableKind",
    "VariableRefused",
    "check_template",
    "render",
    "Delivery",
    "EmailMessage",
    "HeaderInjection",
    "InvalidAddress",
    "MailerMisconfigured",
    "MessageRefused",
    "MessageTooLarge",
    "Outcome",
    "SmtpMailer",
    "check_address",
    "check_message",
    "configured_mailer",
]
