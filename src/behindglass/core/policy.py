"""A site's disclosure policy: the rules every release must pass, whatever produced it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MIN_CELL = 11
DEFAULT_MAX_PARAM_RATIO = 0.33  # DataSHIELD's default for regression models


class DisclosurePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_cell: int = Field(default=DEFAULT_MIN_CELL, ge=1,
                          description="any person count below this is suppressed")
    secondary_suppression: bool = Field(
        default=True, description="suppress further cells so suppressed ones cannot be derived"
    )
    max_param_ratio: float = Field(
        default=DEFAULT_MAX_PARAM_RATIO, gt=0, le=1,
        description="a model with more parameters per person at this site is refused")
