"""A refused configuration lists every error by the field path the operator wrote, and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from app.program import ProgramInvalid, parse_program
from app.seed import DEMO_PROGRAM
from tests.program.configs import demo_config


def errors_of(config: Any) -> list[str]:
    with pytest.raises(ProgramInvalid) as refused:
        parse_program(config)
    return [str(error) for error in refused.value.errors]


def test_every_error_is_listed_with_its_path() -> None:
    config = demo_config(timezone="Mars/Olympus", surprise=1)
    config["earn"]["rules"] = [
        {"id": "dining", "categories": ["dining"], "multiplier": "5"},
        {"id": "tea", "categories": ["tea"], "multiplier": "1.5"},
        {"id": "gift", "categories": ["gift"], "multiplier": 101},
    ]
    config["tiers"][1]["threshold"] = -5
    assert errors_of(config) == [
        "timezone: unknown time zone 'Mars/Olympus'",
        "tiers[1].threshold: Input should be greater than or equal to 0",
        "earn.rules[2].multiplier: Input should be less than or equal to 100",
        "surprise: Extra inputs are not permitted",
    ]


def test_a_policy_error_names_the_policy_field_not_its_kind() -> None:
    config = demo_config()
    config["expiry"] = {
        "default": {"kind": "rolling", "days": 0},
        "by_tier": {"gold": {"kind": "soon"}},
    }
    errors = errors_of(config)
    assert errors[0] == "expiry.default.days: Input should be greater than or equal to 1"
    assert errors[1].startswith("expiry.by_tier.gold: Input tag 'soon' found using 'kind'")


def test_missing_fields_and_rules_between_fields_have_their_paths() -> None:
    config = demo_config()
    del config["currency"]
    config["expiry"]["by_tier"] = {"platinum": {"kind": "never"}}
    config["campaigns"] = [
        {"id": "c1", "name": "C", "multiplier": "2", "tiers": ["gold"]},
        {"id": "c1", "name": "C again", "bonus_points": 5},
    ]
    config["earn"]["rules"] = [{"id": "r", "categories": ["x"]}]
    assert errors_of(config) == [
        "currency: Field required",
        "expiry: by_tier names unknown tiers: ['platinum']",
        "earn.rules[0]: a rule gives a multiplier, bonus_points or order_bonus",
        "campaigns: campaign ids must be unique",
    ]


def test_the_stamp_of_a_shown_program_is_ignored() -> None:
    config = demo_config(version=7, updated_by="someone", updated_at="2026-01-01T00:00:00Z")
    assert parse_program(config) == DEMO_PROGRAM


@pytest.mark.parametrize("config", [[], "x", None, 3])
def test_a_configuration_is_a_table(config: Any) -> None:
    assert errors_of(config) == ["(program): the configuration must be a table (a JSON object)"]


def test_a_huge_configuration_is_refused_before_validation() -> None:
    config = demo_config(warning_lead_days=list(range(30_000)))
    assert errors_of(config) == ["(program): the configuration is too large"]
