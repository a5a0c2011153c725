"""Channels: the transports that reach a member outside the app (e-mail, SMS, direct push), and the templates
their messages are written from. A foundation package: it knows nothing of members, programs or
the ledger; the domain decides who gets what on which channel and hands over finished values.

Every adapter's `send` answers a `Delivery` (app/channels/delivery.py), whose `Outcome` tells the
outbox to be done, to retry later, or to stop trying this recipient or this message.
docs/channels.md describes each channel.
"""

from app.channels.aliyun_sms import AliyunSms, aliyun_outcome
from app.channels.apns import ApnsPush, apns_outcome
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
from app.channels.fcm import FcmPush, ServiceAccount, fcm_outcome
from app.channels.push import PushMessage, PushPlatform, PushProvider, PushRefused
from app.channels.push_config import build_push_providers
from app.channels.sms import (
    SmsMessage,
    SmsProvider,
    SmsRefused,
    signed_sms_parts,
    signed_text,
    sms_parts,
)
from app.channels.sms_callbacks import (
    MAX_CALLBACK_BYTES,
    MAX_CALLBACK_ITEMS,
    CallbackRefused,
    SmsReply,
    SmsReport,
    aliyun_replies,
    aliyun_reports,
    is_unsubscribe,
    tencent_replies,
    tencent_reports,
)
from app.channels.sms_config import build_sms_provider
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
    Value,
    VariableKind,
    VariableRefused,
    check_template,
    render,
)
from app.channels.tencent_sms import TencentSms, tencent_outcome

__all__ = [
    "ApnsPush",
    "FcmPush",
    "PushMessage",
    "PushPlatform",
    "PushProvider",
    "PushRefused",
    "ServiceAccount",
    "apns_outcome",
    "build_push_providers",
    "fcm_outcome",
    "ALLOWED_FILTERS",
    "MEMBER_VARIABLES",
    "AliyunSms",
    "CallbackRefused",
    "MAX_CALLBACK_BYTES",
    "MAX_CALLBACK_ITEMS",
    "SmsReply",
    "SmsReport",
    "aliyun_replies",
    "aliyun_reports",
    "is_unsubscribe",
    "tencent_replies",
    "tencent_reports",
    "ConstructNotAllowed",
    "Delivery",
    "EmailMessage",
    "HeaderInjection",
    "InvalidAddress",
    "MailerMisconfigured",
    "MessageRefused",
    "MessageTooLarge",
    "Outcome",
    "OutputTooLong",
    "RenderRefused",
    "SmsMessage",
    "SmsProvider",
    "SmsRefused",
    "SmtpMailer",
    "TemplateDoesNotParse",
    "TemplateError",
    "TemplateFormat",
    "TemplateTooLong",
    "TencentSms",
    "UndeclaredVariable",
    "UnknownTimeZone",
    "Value",
    "VariableKind",
    "VariableRefused",
    "aliyun_outcome",
    "build_sms_provider",
    "check_address",
    "check_message",
    "check_template",
    "configured_mailer",
    "render",
    "signed_sms_parts",
    "signed_text",
    "sms_parts",
    "tencent_outcome",
]
