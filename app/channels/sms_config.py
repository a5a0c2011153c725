"""The SMS provider the settings name (JIFEN_SMS_PROVIDER), built with its credentials."""

from __future__ import annotations

import httpx

from app.channels.aliyun_sms import AliyunSms
from app.channels.sms import SmsProvider
from app.channels.tencent_sms import TencentSms
from app.clock import Clock
from app.config import Settings, SmsProviderName


def build_sms_provider(
    settings: Settings, *, clock: Clock, client: httpx.AsyncClient | None = None
) -> SmsProvider | None:
    """The configured provider, or None with JIFEN_SMS_PROVIDER=none. Settings has already
    refused a provider without its credentials. With no `client` the adapter owns one: close it
    with the adapter's aclose()."""
    timeout = settings.sms_timeout_seconds
    if settings.sms_provider is SmsProviderName.ALIYUN:
        assert settings.sms_aliyun_access_key_id and settings.sms_aliyun_access_key_secret
        return AliyunSms(
            access_key_id=settings.sms_aliyun_access_key_id,
            access_key_secret=settings.sms_aliyun_access_key_secret.get_secret_value(),
            clock=clock,
            endpoint=settings.sms_aliyun_endpoint,
            region=settings.sms_aliyun_region,
            client=client,
            timeout=timeout,
        )
    if settings.sms_provider is SmsProviderName.TENCENT:
        assert settings.sms_tencent_secret_id and settings.sms_tencent_secret_key
        assert settings.sms_tencent_sdk_app_id
        return TencentSms(
            secret_id=settings.sms_tencent_secret_id,
            secret_key=settings.sms_tencent_secret_key.get_secret_value(),
            sdk_app_id=settings.sms_tencent_sdk_app_id,
            clock=clock,
            region=settings.sms_tencent_region,
            endpoint=settings.sms_tencent_endpoint,
            client=client,
            timeout=timeout,
        )
    return None
