"""The three reference programs in examples/ compute what their brands promise (engine only; the
simulated years through the partner API are in tests/partners/test_example_years.py)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from app.program import MemberFacts, Program, Purchase, PurchaseLine, compute_earn

EXAMPLES = Path(__file__).parents[2] / "examples"


def load(name: str) -> Program:
    with (EXAMPLES / name).open("rb") as file:
        return Program.model_validate(tomllib.load(file))


def order(*lines: tuple[str, str, str], at: datetime) -> Purchase:
    return Purchase(
        tuple(
            PurchaseLine(f"L{i}", sku, category, 1, Decimal(amount))
            for i, (sku, category, amount) in enumerate(lines)
        ),
        at,
        "app",
    )


def test_the_mall_gives_a_point_per_yuan_and_doubles_on_11_11_and_wednesdays_but_not_both() -> None:
    mall = load("ecommerce.toml")
    member = MemberFacts(tier="member")
    tuesday = datetime(2026, 3, 3, 4, tzinfo=UTC)
    wednesday_11_11 = datetime(2026, 11, 11, 4, tzinfo=UTC)
    lines = (("TEE", "apparel", "199.90"), ("GC", "gift-card", "500"), ("SHIP", "shipping", "10"))
    assert compute_earn(mall, order(*lines, at=tuesday), member).total == 199
    assert compute_earn(mall, order(*lines, at=wednesday_11_11), member).total == 398
    gold = compute_earn(mall, order(*lines, at=tuesday), MemberFacts(tier="gold"))
    assert gold.total == 238  # floor(199 × 1.2)


def test_the_airline_earns_by_fare_class_and_distance_with_the_tier_bonus() -> None:
    air = load("airline.toml")
    at = datetime(2026, 5, 1, 4, tzinfo=UTC)
    flight = order(("J", "flight", "1178"), ("K", "flight", "1178"), ("TAX", "tax", "90"), at=at)
    assert compute_earn(air, flight, MemberFacts(tier="blue")).by_line() == {
        "L0": 1767,
        "L1": 589,
        "L2": 0,
    }
    assert compute_earn(air, flight, MemberFacts(tier="gold")).total == 2650 + 883


def test_the_bank_card_gives_a_point_per_20_yuan_and_five_times_on_dining() -> None:
    bank = load("bank-card.toml")
    at = datetime(2026, 5, 1, 4, tzinfo=UTC)
    statement = order(("-", "dining", "388"), ("-", "groceries", "1000"), ("-", "fee", "50"), at=at)
    assert compute_earn(bank, statement, MemberFacts(tier="classic")).by_line() == {
        "L0": 95,
        "L1": 50,
        "L2": 0,
    }
