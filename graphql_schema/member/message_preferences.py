"""A member's preferences for messages outside the app: `me { notificationPreferences }` and
`updateNotificationPreferences` (app/messaging/preferences.py)."""

from __future__ import annotations

import strawberry

from app.messaging import (
    Channel,
    EventKind,
    OptOut,
    Preferences,
    get_preferences,
    is_marketing,
    update_preferences,
)
from graphql_schema.context import Info
from graphql_schema.permissions import MemberMutation, caller_member_id
from graphql_schema.refusals import as_payload
from graphql_schema.user_errors import UserError

strawberry.enum(
    Channel, name="MessageChannel", description="A way to reach a member outside the app."
)
strawberry.enum(
    EventKind,
    name="MessageKind",
    description="What a message tells of: CAMPAIGN is marketing, the others transactional.",
)


@strawberry.type(description="Whether the member gets one kind of message on one channel.")
class NotificationPreference:
    channel: Channel
    kind: EventKind
    enabled: bool = strawberry.field(description="False: the member turned it off.")
    marketing: bool = strawberry.field(
        description="A marketing kind: sent only with marketingConsent too."
    )


@strawberry.type
class NotificationPreferences:
    marketing_consent: bool = strawberry.field(
        description="Whether the member agreed to marketing messages (campaigns)."
    )
    language: str | None = strawberry.field(
        description="zh-CN or en; null: the program's language."
    )
    settings: list[NotificationPreference] = strawberry.field(
        description="Every channel and kind. A transactional kind cannot be off on every channel."
    )

    @classmethod
    def of(cls, preferences: Preferences) -> NotificationPreferences:
        return cls(
            marketing_consent=preferences.marketing_consent,
            language=preferences.language,
            settings=[
                NotificationPreference(
                    channel=channel,
                    kind=kind,
                    enabled=preferences.allows(channel, kind),
                    marketing=is_marketing(kind),
                )
                for kind in EventKind
                for channel in Channel
            ],
        )


async def notification_preferences_of(info: Info, member_id: str) -> NotificationPreferences:
    return NotificationPreferences.of(await get_preferences(info.context.runtime.mongo, member_id))


@strawberry.input
class NotificationOptOutInput:
    channel: Channel
    kind: EventKind


@strawberry.input
class UpdateNotificationPreferencesInput:
    opt_outs: list[NotificationOptOutInput] | None = strawberry.field(
        default=None,
        description="The kinds turned off per channel: replaces the whole set; left out, unchanged.",
    )
    marketing_consent: bool | None = None
    language: str | None = strawberry.field(default=None, description="zh-CN or en.")


@strawberry.type
class NotificationPreferencesPayload:
    preferences: NotificationPreferences | None
    user_errors: list[UserError]


async def update_notification_preferences_mutation(
    info: Info, input: UpdateNotificationPreferencesInput
) -> NotificationPreferencesPayload:
    runtime = info.context.runtime
    opt_outs = (
        None
        if input.opt_outs is None
        else [OptOut(Channel(item.channel), EventKind(item.kind)) for item in input.opt_outs]
    )

    async def run() -> NotificationPreferencesPayload:
        preferences = await update_preferences(
            runtime.mongo,
            runtime.clock,
            caller_member_id(info),
            opt_outs=opt_outs,
            marketing_consent=input.marketing_consent,
            language=input.language,
        )
        return NotificationPreferencesPayload(
            preferences=NotificationPreferences.of(preferences), user_errors=[]
        )

    return await as_payload(
        run, lambda e: NotificationPreferencesPayload(preferences=None, user_errors=e)
    )


update_notification_preferences_field = strawberry.mutation(
    resolver=update_notification_preferences_mutation,
    permission_classes=[MemberMutation],
    description="The member's opt-outs per channel and kind, marketing consent and language.",
)
