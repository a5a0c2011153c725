"""A draw as stored in `draws`, and one member's entry as stored in `draw_entries`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.bounds import MAX_STOCK

MAX_PRIZES = 50


class Prize(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=120)
    weight: int = Field(gt=0, le=1_000_000)
    stock: int | None = Field(
        default=None, ge=0, le=MAX_STOCK, description="Units left; None is unlimited."
    )
    points: int = Field(default=0, ge=0, le=10_000_000, description="Points the prize gives.")


class Draw(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    name: str = Field(min_length=1, max_length=120)
    cost: int = Field(gt=0, le=10_000_000)
    starts_at: datetime
    ends_at: datetime
    daily_limit: int | None = Field(default=None, gt=0, le=1000)
    no_prize_weight: int = Field(default=0, ge=0, le=1_000_000)
    prizes: tuple[Prize, ...] = Field(min_length=1, max_length=MAX_PRIZES)
    closed: bool = False

    @model_validator(mode="after")
    def _window_and_ids(self) -> Draw:
        if self.starts_at >= self.ends_at:
            raise ValueError("ends_at must be after starts_at")
        if len({prize.id for prize in self.prizes}) != len(self.prizes):
            raise ValueError("prize ids must be unique")
        return self

    def open_at(self, now: datetime) -> bool:
        return not self.closed and self.starts_at <= now < self.ends_at


class DrawEntry(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    draw_id: str
    member_id: str
    prize_id: str | None
    prize_name: str | None
    prize_points: int = 0
    cost: int
    entry_id: str
    created_at: datetime
