"""Request bodies of the scoring API."""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class FitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime = Field(description="Only purchases with occurred_at <= as_of count.")
    time_unit: Literal["day", "week", "month"] = "week"


class RetentionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    survivors: Annotated[
        list[Annotated[float, Field(ge=0)]],
        Field(
            min_length=2,
            description="Customers still active at the start of each period, period 0 first; "
            "non-increasing.",
            examples=[[1000, 631, 468, 382, 326, 289, 262, 241]],
        ),
    ]
    discount_rate: Annotated[float, Field(gt=0, lt=10)] | None = None
    projection_periods: Annotated[int, Field(ge=1, le=1000)] = 12
