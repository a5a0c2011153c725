"""An SMS message's bounds, its length in parts as the providers count them, and the provider the
settings build."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from app.channels import (
    AliyunSms,
    SmsMessage,
    SmsRefused,
    TencentSms,
    build_sms_provider,
    signed_sms_parts,
    signed_text,
    sms_parts,
)
from app.clock import FrozenClock
from app.config import ConfigurationError, load_settings

GOOD = {
    "phone": "+8613800138000",
    "sign_name": "积分乐园",
    "template_code": "SMS_100001",
    "params": {"name": "王小明", "points": "1200"},
}


def test_a_message_keeps_its_params_in_order_and_read_only() -> None:
    message = SmsMessage(**{**GOOD, "params": {"b": "2", "a": "1"}})

    assert list(message.params.items()) == [("b", "2"), ("a", "1")]
    assert message.mainland
    with pytest.raises(TypeError):
        message.params["c"] = "3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "13800138000"}, "phone"),  # no +country code
        ({"phone": "+86138001380001"}, "phone"),  # mainland: 12 digits
        ({"phone": "+8623800138000"}, "phone"),  # mainland: not a mobile number
        ({"phone": "+0123456789"}, "phone"),
        ({"phone": "+1234567890123456"}, "phone"),  # 16 digits
        ({"phone": "+86 138 0013 8000"}, "phone"),
        ({"sign_name": "积"}, "sign_name"),
        ({"sign_name": "积分乐园积分乐园积分乐园积"}, "sign_name"),  # 13 characters
        ({"sign_name": "积分\n乐园"}, "sign_name"),
        ({"sign_name": " 积分乐园"}, "sign_name"),
        ({"template_code": ""}, "template_code"),
        ({"template_code": "SMS 1"}, "template_code"),
        ({"template_code": "S" * 65}, "template_code"),
        ({"params": {f"p{i}": "x" for i in range(17)}}, "params"),
        ({"params": {"1st": "x"}}, "params"),
        ({"params": {"name": ""}}, "params"),
        ({"params": {"name": "x" * 36}}, "params"),
        ({"params": {"name": "a\u202eb"}}, "params"),  # a direction override
        ({"params": {"points": 1200}}, "params"),
    ],
)
def test_a_message_outside_the_bounds_is_refused_with_the_field_named(change, field) -> None:
    with pytest.raises(SmsRefused) as refused:
        SmsMessage(**{**GOOD, **change})

    assert refused.value.field == field


def test_the_widest_message_in_bounds_is_accepted() -> None:
    message = SmsMessage(
        phone="+123456789012345",
        sign_name="积分乐园积分乐园积分乐园",
        template_code="S" * 64,
        params={f"p{i}": "x" * 35 for i in range(16)},
    )

    assert not message.mainland


CHINESE = "积"
EMOJI = "😀"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 0),
        (CHINESE * 70, 1),
        (CHINESE * 71, 2),
        (CHINESE * 134, 2),
        (CHINESE * 135, 3),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character is two septets
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but the escape pair cannot be split
        ("a" * 69 + CHINESE, 1),  # mixed: one Chinese character makes it all UCS-2
        ("a" * 70 + CHINESE, 2),
        ("Héllo ñ Ü ß", 1),  # accented letters of GSM-7 stay GSM-7
        ("Hello ’quoted’" + "a" * 60, 2),  # a curly quote does not: 74 UCS-2 characters
        (EMOJI * 35, 1),  # an emoji is two UTF-16 units
        (EMOJI * 36, 2),
        ("a" * 66 + EMOJI + "a" * 66, 3),  # 134 units, but the pair cannot be split
    ],
)
def test_parts_are_counted_as_the_providers_count_them(text, parts) -> None:
    assert sms_parts(text) == parts


def test_a_mainland_message_counts_every_character_by_the_70_and_67_rule() -> None:
    assert sms_parts("a" * 70, mainland=True) == 1
    assert sms_parts("a" * 71, mainland=True) == 2
    assert sms_parts("a" * 71) == 1  # the same text abroad is GSM-7


def test_the_sign_name_and_its_brackets_count_too() -> None:
    assert signed_text("您好", "积分乐园", mainland=True) == "【积分乐园】您好"
    assert signed_sms_parts("x" * 64, "积分乐园", mainland=True) == 1  # 6 + 64 = 70
    assert signed_sms_parts("x" * 65, "积分乐园", mainland=True) == 2
    # abroad, an all-GSM message's sign name goes in [], still GSM-7
    assert signed_text("Hi", "Jifen") == "[Jifen]Hi"
    # [ and ] are in GSM-7's extension table: two septets each, so "[Jifen]" is 9
    assert signed_sms_parts("a" * 151, "Jifen") == 1  # 9 + 151 = 160
    assert signed_sms_parts("a" * 152, "Jifen") == 2
    assert signed_sms_parts("a" * 60, "积分乐园") == 1  # a Chinese sign name makes it UCS-2
    assert signed_sms_parts("a" * 65, "积分乐园") == 2


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str):
    for name in [name for name in os.environ if name.startswith("JIFEN_SMS")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(_env_file=None)


def test_no_provider_is_configured_by_default(monkeypatch) -> None:
    settings = _settings(monkeypatch)

    assert build_sms_provider(settings, clock=FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))) is None


def test_a_provider_without_its_credentials_is_refused_at_start(monkeypatch) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _settings(monkeypatch, JIFEN_SMS_PROVIDER="aliyun", JIFEN_SMS_ALIYUN_ACCESS_KEY_ID="id")

    assert "JIFEN_SMS_ALIYUN_ACCESS_KEY_SECRET" in str(refused.value)
    assert "JIFEN_SMS_SIGN_NAME" in str(refused.value)


async def test_the_configured_provider_is_built_from_the_environment(monkeypatch) -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    aliyun = _settings(
        monkeypatch,
        JIFEN_SMS_PROVIDER="aliyun",
        JIFEN_SMS_SIGN_NAME="积分乐园",
        JIFEN_SMS_ALIYUN_ACCESS_KEY_ID="LTAI-id",
        JIFEN_SMS_ALIYUN_ACCESS_KEY_SECRET="aliyun-very-secret",
    )
    tencent = _settings(
        monkeypatch,
        JIFEN_SMS_PROVIDER="tencent",
        JIFEN_SMS_SIGN_NAME="积分乐园",
        JIFEN_SMS_TENCENT_SECRET_ID="AKID-id",
        JIFEN_SMS_TENCENT_SECRET_KEY="tencent-very-secret",
        JIFEN_SMS_TENCENT_SDK_APP_ID="1400006666",
    )

    built = [build_sms_provider(settings, clock=clock) for settings in (aliyun, tencent)]

    assert isinstance(built[0], AliyunSms) and isinstance(built[1], TencentSms)
    assert "aliyun-very-secret" not in repr(aliyun)
    assert "tencent-very-secret" not in repr(tencent)
    for provider in built:
        assert provider is not None
        await provider.aclose()
