"""clm.customer-scores.v1: score updates, published by scoring when a score moved materially.

Model (`ScoreUpdateData`), header encoder (`HEADERS`, used by scoring's column-wise encoder)
and decoder (`decode`) of the one message, in one place.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.cloudevents import CloudEventError, HeaderEncoder, from_kafka
from shared.topics import CUSTOMER_SCORES

TOPIC = CUSTOMER_SCORES
SOURCE = "/clm/scoring"
SCHEMA = "urn:clm:schema:customer-scores:v1"
SCORES_UPDATED = "clm.scoring.scores_updated"
HEADERS = HeaderEncoder(SOURCE, SCORES_UPDATED, SCHEMA)
# The values of `segment` (scoring's domain/rfm.py assigns them; audiences filters on them).
RFM_SEGMENTS = (
    "champions",
    "new",
    "potential_loyalist",
    "loyal",
    "cant_lose",
    "at_risk",
    "hibernating",
    "lost",
)


class ScoreUpdateData(BaseModel):
    """`clm.scoring.scores_updated`: published when a score moved materially."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str
    model_id: str | None
    p_alive: float | None
    churn_risk: float | None
    expected_purchases: float | None
    expected_avg_spend: float | None
    clv: float | None
    segment: str | None
    health_score: float | None
    horizon: float | None
    time_unit: str | None
    scored_at: datetime
    cause: str


@dataclass(frozen=True)
class ScoreUpdate:
    event_id: str
    type: str
    customer_id: str
    time: datetime | None  # ce_time (optional in CloudEvents)
    data: dict[str, Any]

    def number(self, name: str) -> float | None:
        """A score by name; CloudEventError when it is there but not a number."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CloudEventError(f"{name} must be a number")
        return float(value)

    def scored_at(self) -> datetime:
        """`scored_at`, or the CloudEvent time when absent."""
        stamped = self.data.get("scored_at") or (self.time.isoformat() if self.time else None)
        if stamped is None:
            raise CloudEventError("score update without scored_at or time")
        try:
            moment = datetime.fromisoformat(str(stamped))
        except ValueError as exc:
            raise CloudEventError("scored_at is not an RFC 3339 time") from exc
        if moment.tzinfo is None:
            raise CloudEventError("scored_at needs a UTC offset")
        return moment


def decode(value: bytes | None, headers: Any) -> ScoreUpdate:
    ce = from_kafka(value, headers)
    customer_id = ce.data.get("customer_id") or ce.subject
    if not customer_id:
        raise CloudEventError("score update without customer_id")
    return ScoreUpdate(ce.id, ce.type, str(customer_id), ce.time, ce.data)
