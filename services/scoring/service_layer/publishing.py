"""Score updates on clm.customer-scores.v1: only material changes, deterministic ids."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from shared.contracts.customer_scores import HEADERS

PROBABILITY_STEP = 0.01  # churn_risk or p_alive moving by more than this is material
CLV_RELATIVE_STEP = 0.01  # so is CLV moving by more than 1 %


@dataclass(frozen=True)
class Published:
    """What subscribers last heard about each customer (NaN / "" = nothing yet)."""

    p_alive: npt.NDArray[np.float64]
    churn_risk: npt.NDArray[np.float64]
    clv: npt.NDArray[np.float64]
    segment: npt.NDArray[np.str_]


def _moved(new: npt.NDArray[np.float64], old: npt.NDArray[np.float64], step: float) -> Any:
    return np.where(np.isnan(old), ~np.isnan(new), np.abs(np.nan_to_num(new) - old) > step)


def material_changes(
    published: Published,
    p_alive: npt.NDArray[np.float64],
    risk: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    segment: npt.NDArray[np.str_],
) -> npt.NDArray[np.bool_]:
    scored = ~np.isnan(risk)
    clv_step = np.maximum(np.abs(np.nan_to_num(published.clv)) * CLV_RELATIVE_STEP, 1e-6)
    changed = (
        _moved(p_alive, published.p_alive, PROBABILITY_STEP)
        | _moved(risk, published.churn_risk, PROBABILITY_STEP)
        | np.where(
            np.isnan(published.clv),
            ~np.isnan(value),
            np.abs(np.nan_to_num(value) - published.clv) > clv_step,
        )
        | (segment != published.segment)
    )
    return np.asarray(scored & changed)


def event_id(customer_id: str, model_id: str, cause: str) -> str:
    return hashlib.sha256(f"{customer_id}\x1f{model_id}\x1f{cause}".encode()).hexdigest()


# A score update as the outbox keeps it: key, value, headers as JSON [[name, value], ...].
Message = tuple[bytes, bytes, str]


def _numbers(values: Any) -> list[float]:
    """Rounded to 10 decimals; NaN stays NaN, which orjson writes as null."""
    return list(np.round(np.asarray(values, dtype=np.float64), 10).tolist())


def score_messages(
    *,
    customer_ids: Sequence[str],
    model_id: str,
    causes: Sequence[str],
    time: datetime,
    p_alive: Any,
    churn_risk: Any,
    expected_purchases: Any,
    expected_avg_spend: Any,
    clv: Any,
    segment: Any,
    health_score: Any,
    horizon: float | None,
    time_unit: str,
) -> list[Message]:
    """CloudEvents (Kafka binary mode, as shared.cloudevents.to_kafka writes them) of score
    updates, many customers at once: the per-batch parts
    (time, constant headers) computed once, the numbers converted column-wise. The arrays
    hold only the customers to publish; ``causes`` name what triggered each update."""
    stamp = time.isoformat()
    headers = HEADERS.json
    segments = [str(s) or None for s in np.asarray(segment).tolist()]
    columns = zip(
        customer_ids,
        causes,
        _numbers(p_alive),
        _numbers(churn_risk),
        _numbers(expected_purchases),
        _numbers(expected_avg_spend),
        _numbers(clv),
        segments,
        _numbers(health_score),
        strict=True,
    )
    messages: list[Message] = []
    dumps, sha256 = orjson.dumps, hashlib.sha256
    for customer, cause, alive, risk, expected, spend, value, seg, health in columns:
        data = {
            "customer_id": customer,
            "model_id": model_id,
            "p_alive": alive,
            "churn_risk": risk,
            "expected_purchases": expected,
            "expected_avg_spend": spend,
            "clv": value,
            "segment": seg,
            "health_score": health,
            "horizon": horizon,
            "time_unit": time_unit,
            "scored_at": stamp,
            "cause": cause,
        }
        ce_id = sha256(f"{customer}\x1f{model_id}\x1f{cause}".encode()).hexdigest()
        messages.append((customer.encode(), dumps(data), headers(ce_id, customer, stamp)))
    return messages
