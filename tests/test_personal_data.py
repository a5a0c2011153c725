"""Finding a member's personal data in stored text, however it was written, and nothing else."""

from __future__ import annotations

from datetime import date

import pytest

from app.personal_data import ERASED, PERSONAL_FIELDS, PersonalData

HAN = PersonalData.of(
    names=["Han Meimei", "李"],
    phones=["+8613800138001", "+4915112345678"],
    emails=["Meimei.Han@example.cn"],
    birthdays=[date(1991, 7, 23)],
    tokens=["apns-token-1"],
)


@pytest.mark.parametrize(
    "written",
    [
        "+8613800138001",
        "008613800138001",
        "8613800138001",
        "13800138001",
        "138 0013 8001",
        "138-0013-8001",
        "(138) 0013.8001",
        "+86 138 0013 8001",
        "+49 151 1234 5678",
        "004915112345678",
        "han meimei",
        "HAN MEIMEI",
        "meimei.han@EXAMPLE.cn",
        "1991-07-23",
        "1991/07/23",
        "apns-token-1",
    ],
)
def test_every_way_a_value_is_written_is_redacted(written: str) -> None:
    assert HAN.redact(f"called on {written}, twice") == f"called on {ERASED}, twice"


@pytest.mark.parametrize(
    "other",
    [
        "213800138001",
        "138001380012",
        "13800138002",
        "Han Meimeng",
        "1991-07-24",
        "11991-07-23",
        "李雷 Li Lei",  # a one-character name is no evidence in free text
    ],
)
def test_what_only_looks_alike_is_left_alone(other: str) -> None:
    assert HAN.redact(other) == other


def test_personal_fields_lose_their_whole_value_and_nothing_else_changes() -> None:
    before = {
        "name": "李",
        "phone": "+8613800138001",
        "tier": "gold",
        "points": 5,
        "nested": [{"email": "someone@else.cn", "note": "ok"}],
    }
    redacted = HAN.redact(before, PERSONAL_FIELDS)
    assert redacted == {
        "name": ERASED,
        "phone": ERASED,
        "tier": "gold",
        "points": 5,
        "nested": [{"email": ERASED, "note": "ok"}],
    }
    untouched = {"tier": "gold", "nested": [{"note": "ok"}]}
    assert HAN.redact(untouched, PERSONAL_FIELDS) is untouched


def test_only_what_names_nobody_else_is_looked_for_in_shared_documents() -> None:
    shared = HAN.identifying
    assert shared.redact("Han Meimei, 1991-07-23") == "Han Meimei, 1991-07-23"
    assert shared.redact("13800138001 apns-token-1") == f"{ERASED} {ERASED}"
    assert not PersonalData() and PersonalData().redact("13800138001") == "13800138001"
