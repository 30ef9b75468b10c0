"""Score updates from clm.customer-scores.v1 as facts: a churn-risk reading dated `scored_at`.

A reading is a fact with a time, like an event: the replay applies readings in time order
(ties by event id), so the latest reading by time decides `churn_risk`, whatever order they
arrive in. A late, older reading is replayed at its own time (it may set and clear at_risk
in the history, through corrections), and a repeated one is absorbed by the dedup row.
"""

from typing import Any

from services.lifecycle.domain import DomainEvent, EventType
from shared.contracts import customer_scores


def decode_score(record: Any) -> DomainEvent | None:
    """The churn-risk reading of a score update; None when it carries none (nothing to apply)."""
    update = customer_scores.decode(record.value, record.headers)
    if update.type != customer_scores.SCORES_UPDATED:
        return None
    churn_risk = update.number("churn_risk")
    if churn_risk is None:  # scored without a model: no reading
        return None
    scored_at = update.scored_at()
    return DomainEvent(
        update.event_id, EventType.SCORE, update.customer_id, scored_at, {"churn_risk": churn_risk}
    )
