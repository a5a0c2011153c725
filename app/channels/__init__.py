"""Channels: the transports that reach a member outside the app (SMS here), each answering every
message with one Delivery. A foundation package: it imports no domain package; which event goes to
whom on which channel is decided elsewhere. docs/channels.md describes each channel."""

from app.channels.aliyun_sms import AliyunSms, aliyun_outcome
from app.channels.delivery import Delivery, Outcome
from app.channels.sms import (
    SmsMessage,
    SmsProvider,
    SmsRefused,
    signed_sms_parts,
    signed_text,
    sms_parts,
)
from app.channels.sms_config import build_sms_provider
from app.channels.tencent_sms import TencentSms, tencent_outcome

__all__ = [
    "AliyunSms",
    "Delivery",
    "Outcome",
    "SmsMessage",
    "SmsProvider",
    "SmsRefused",
    "TencentSms",
    "aliyun_outcome",
    "build_sms_provider",
    "signed_sms_parts",
    "signed_text",
    "sms_parts",
    "tencent_outcome",
]
