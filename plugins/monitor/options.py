"""The monitor's options (``plugins: monitor:``) and its state key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from clawhost.api import StashKey

if TYPE_CHECKING:
    from .recorder import Monitor

NAME = "monitor"
STATE: StashKey["Monitor"] = StashKey(NAME)  # the host's Monitor
_PATH = r"^/[A-Za-z0-9/_.\-]*$"


class Options(BaseModel):
    """``plugins: monitor:`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")
    metrics_path: str = Field("/metrics", pattern=_PATH)
    stats_path: str = Field("/v1/stats", pattern=_PATH)
    status_page: bool = True  # the HTML status page at page_path
    page_path: str = Field("/", pattern=_PATH)
    sample_s: float = Field(2.0, ge=0.05, le=60, description="seconds between history points")
    history_s: float = Field(900.0, ge=10, le=86400, description="seconds of history kept")
    max_label_values: int = Field(32, ge=1, le=1000,
                                  description="distinct models / providers / keys per label")
    otel: bool = Field(False, description="OpenTelemetry spans per request (needs opentelemetry)")
