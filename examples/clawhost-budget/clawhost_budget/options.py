"""The budget plugin's options (``plugins: budget:``) and its state key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

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
