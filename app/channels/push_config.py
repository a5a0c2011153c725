"""The direct push services the settings turn on (JIFEN_APNS_*, JIFEN_FCM_*), built with their keys."""

from __future__ import annotations

import httpx

from app.channels.apns import ApnsPush
from app.channels.fcm import FcmPush, ServiceAccount
from app.channels.push import PushPlatform, PushProvider
from app.clock import Clock
from app.config import Settings


def build_push_providers(
    settings: Settings, *, clock: Clock, client: httpx.AsyncClient | None = None
) -> dict[PushPlatform, PushProvider]:
    """One provider per platform whose key is set (none: pushes go to the brand's gateway, if
    any). A key file that cannot be read stops the start with the error. With no `client`, each
    provider owns an HTTP/2 client: close it with the provider's aclose()."""
    providers: dict[PushPlatform, PushProvider] = {}
    timeout = settings.push_timeout_seconds
    if settings.apns_key_file is not None:
        providers[PushPlatform.APNS] = ApnsPush(
            team_id=settings.apns_team_id or "",
            key_id=settings.apns_key_id or "",
            private_key=settings.apns_key_file.read_text(),
            topic=settings.apns_topic or "",
            clock=clock,
            endpoint=settings.apns_endpoint,
            client=client,
            timeout=timeout,
        )
    if settings.fcm_service_account_file is not None:
        providers[PushPlatform.FCM] = FcmPush(
            project_id=settings.fcm_project_id or "",
            account=ServiceAccount.from_json(settings.fcm_service_account_file.read_text()),
            clock=clock,
            endpoint=settings.fcm_endpoint,
            client=client,
            timeout=timeout,
        )
    return providers
