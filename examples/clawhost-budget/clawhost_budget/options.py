"""The budget plugin's options (``plugins: budget:``) and its state key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from clawhost.api import StashKey

if TYPE_CHECKING:
    from .ledger import Budget

NAME = "budget"
STATE: StashKey["Budget"] = StashKey(NAME)  # the host's Budget


class Price(BaseModel):
    input_per_mtok: float = Field(ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(ge=0, description="USD per million completion tokens")


class Limit(BaseModel):
    daily_usd: float | None = Field(None, gt=0)
    monthly_usd: float | None = Field(None, gt=0)


class Options(BaseModel):
    """The ``budget:`` section of config.yaml."""

    prices: dict[str, Price] = Field(default_factory=dict,
                                     description="model id or glob (openai/gpt-4o*) -> price")
    limits: dict[str, Limit] = Field(default_factory=dict,
                                     description="provider (model id prefix) or '*' -> limits")
    warn_at: float = Field(0.8, gt=0, le=1)
    on_exceed: Literal["refuse", "reroute"] = "refuse"
    refuse_status: Literal[402, 429] = 402
    reroute_model: str | None = None
    # where the totals live: "file" (<workspace>/budget/ledger.json, this host's own),
    # "fleet" (the fleet's Redis, one budget for every host), "auto" (fleet when config.yaml
    # has a fleet: section)
    ledger: Literal["auto", "file", "fleet"] = "auto"

    @field_validator("ledger")
    @classmethod
    def _fleet_on(cls, v: str, info: ValidationInfo) -> str:
        # the host says whether config.yaml has a fleet: section (absent: not known, allowed)
        if v == "fleet" and info.context is not None and info.context.get("fleet") is False:
            raise ValueError("'fleet' needs a fleet: section in config.yaml")
        return v
