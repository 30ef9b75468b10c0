"""Score updates as scoring publishes them become churn-risk readings dated scored_at."""

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from services.lifecycle.adapters.score_messages import decode_score
from services.lifecycle.domain import EventType
from services.scoring.service_layer.publishing import score_messages
from shared.cloudevents import CloudEventError

AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]]


def _published(churn_risk: float) -> Record:
    [(_, value, headers)] = score_messages(
        customer_ids=["c1"], model_id="m1", causes=["e1"], time=AT,
        p_alive=np.array([0.5]), churn_risk=np.array([churn_risk]),
        expected_purchases=np.array([1.0]), expected_avg_spend=np.array([10.0]),
        clv=np.array([99.0]), segment=np.array(["loyal"]), health_score=np.array([70.0]),
        horizon=13.0, time_unit="week",
    )  # fmt: skip
    return Record(value, [(k, v.encode()) for k, v in orjson.loads(headers)])


def test_a_published_score_is_a_reading_at_its_scored_at_under_its_cloudevent_id():
    record = _published(0.82)
    reading = decode_score(record)
    assert reading is not None
    assert (reading.type, reading.customer_id, reading.occurred_at) == (EventType.SCORE, "c1", AT)
    assert reading.data == {"churn_risk": 0.82}
    assert reading.event_id == dict(record.headers)["ce_id"].decode()


def test_a_score_without_churn_risk_is_no_reading():
    assert decode_score(_published(float("nan"))) is None


def test_a_churn_risk_that_is_not_a_number_is_poison():
    record = _published(0.5)
    record.value = record.value.replace(b'"churn_risk":0.5', b'"churn_risk":"high"')
    with pytest.raises(CloudEventError, match="churn_risk"):
        decode_score(record)
