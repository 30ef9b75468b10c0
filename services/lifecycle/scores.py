"""Score updates from clm.customer-scores.v1 as facts: a churn-risk reading dated `scored_at`.

A reading is a fact with a time, like an event: the replay applies readings in time order
(ties by event id), so the latest reading by time decides `churn_risk`, whatever order they
arrive in. A late, older reading is replayed at its own time (it may set and clear at_risk
in the history, through corrections), and a repeated one is absorbed by the dedup row.
"""

from datetime import datetime
from typing import Any

from services.lifecycle.domain import DomainEvent, EventType
from shared.cloudevents import CloudEventError, from_kafka

SCORES_UPDATED = "clm.scoring.scores_updated"


def decode_score(record: Any) -> DomainEvent | None:
    """The churn-risk reading of a score update; None when it carries none (nothing to apply)."""
    ce = from_kafka(record.value, record.headers)
    if ce.type != SCORES_UPDATED:
        return None
    data = ce.data
    customer_id = data.get("customer_id") or ce.subject
    if not customer_id:
        raise CloudEventError("score update without customer_id")
    churn_risk = data.get("churn_risk")
    if churn_risk is None:  # scored without a model: no reading
        return None
    if isinstance(churn_risk, bool) or not isinstance(churn_risk, int | float):
        raise CloudEventError("churn_risk must be a number")
    stamped = data.get("scored_at") or (ce.time.isoformat() if ce.time else None)
    if stamped is None:
        raise CloudEventError("score update without scored_at or time")
    try:
        scored_at = datetime.fromisoformat(str(stamped))
    except ValueError as exc:
        raise CloudEventError("scored_at is not an RFC 3339 time") from exc
    if scored_at.tzinfo is None:
        raise CloudEventError("scored_at needs a UTC offset")
    return DomainEvent(
        ce.id, EventType.SCORE, str(customer_id), scored_at, {"churn_risk": float(churn_risk)}
    )
