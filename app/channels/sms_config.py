"""The SMS provider the settings name (JIFEN_SMS_PROVIDER), built with its credentials."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from app.channels.aliyun_sms import AliyunSms
from app.channels.tencent_sms import TencentSms
from app.clock import Clock
from app.config import Settings, SmsProviderName


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def build_sms_provider(
    settings: Settings, *, clock: Clock, client: httpx.AsyncClient | None = None
) -> AliyunSms | TencentSms | None:
    """The configured provider, or None with JIFEN_SMS_PROVIDER=none. Settings has already
    refused a provider without its credentials (and the adapters refuse empty ones). With no
    `client` the adapter owns one: close it with the adapter's aclose()."""
    timeout = settings.sms_timeout_seconds
    if settings.sms_provider is SmsProviderName.ALIYUN:
        return AliyunSms(
            access_key_id=settings.sms_aliyun_access_key_id or "",
            access_key_secret=_secret(settings.sms_aliyun_access_key_secret),
            clock=clock,
            endpoint=settings.sms_aliyun_endpoint,
            region=settings.sms_aliyun_region,
            client=client,
            timeout=timeout,
        )
    if settings.sms_provider is SmsProviderName.TENCENT:
        return TencentSms(
            secret_id=settings.sms_tencent_secret_id or "",
            secret_key=_secret(settings.sms_tencent_secret_key),
            sdk_app_id=settings.sms_tencent_sdk_app_id or "",
            clock=clock,
            region=settings.sms_tencent_region,
            endpoint=settings.sms_tencent_endpoint,
            client=client,
            timeout=timeout,
        )
    return None
