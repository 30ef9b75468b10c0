"""Population fit from per-customer occasion aggregates (pure): BG/NBD on collapsed
sufficient statistics, Gamma-Gamma on repeaters, RFM cut points."""

from datetime import datetime
from time import perf_counter

import numpy as np
import numpy.typing as npt

from services.scoring.domain import bgnbd, gamma_gamma, rfm
from services.scoring.domain.errors import FitError
from services.scoring.domain.parameters import ScoringParameters
from services.scoring.domain.summary import CollapsedSummary, TimeUnit, collapse
from services.scoring.service_layer.model import ScoringModel
from services.scoring.service_layer.scorer import Statistics


class FitFailed(Exception):
    def __init__(self, message: str, n_customers: int, n_repeaters: int) -> None:
        super().__init__(message)
        self.n_customers = n_customers
        self.n_repeaters = n_repeaters


def population_statistics(
    occasions: npt.ArrayLike,
    first_day: npt.ArrayLike,
    last_day: npt.ArrayLike,
    total: npt.ArrayLike,
    first_amount: npt.ArrayLike,
    as_of_day: int,
) -> Statistics:
    n = np.asarray(occasions, dtype=np.int64)
    zeros = np.zeros(len(n))
    return Statistics(
        occasions=n,
        first_day=np.asarray(first_day, dtype=np.int64),
        last_day=np.asarray(last_day, dtype=np.int64),
        total_spend=np.asarray(total, dtype=np.float64),
        first_amount=np.asarray(first_amount, dtype=np.float64),
        as_of_day=as_of_day,
        complaints=zeros,
        contacts=zeros,
        satisfaction=zeros,
    )


def fit_population(
    stats: Statistics,
    *,
    model_id: str,
    created_at: datetime,
    as_of: datetime,
    time_unit: TimeUnit,
    parameters: ScoringParameters,
    extract_seconds: float,
) -> tuple[ScoringModel, CollapsedSummary]:
    started = perf_counter()
    x, t_x, big_t = stats.frequency, stats.recency(time_unit), stats.age(time_unit)
    rows = collapse(x, t_x, big_t)
    try:
        bg = bgnbd.fit(rows.frequency, rows.recency, rows.age, rows.weights, parameters.bgnbd_fit)
        gg = gamma_gamma.fit(x, stats.monetary, settings=parameters.gamma_gamma_fit)
    except FitError as exc:
        raise FitFailed(str(exc), len(stats), int(np.count_nonzero(x > 0))) from exc
    cuts = rfm.cut_points(big_t - t_x, stats.occasions, stats.total_spend)
    model = ScoringModel(
        model_id=model_id,
        created_at=created_at,
        as_of=as_of,
        time_unit=time_unit,
        bgnbd=bg,
        gamma_gamma=gg,
        rfm_cuts=cuts,
        fit_seconds=perf_counter() - started,
        extract_seconds=extract_seconds,
        rescore_status="running",
    )
    return model, rows
