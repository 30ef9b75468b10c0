import numpy as np
import pytest

from services.scoring.domain import bgnbd, churn_risk
from services.scoring.domain.simulation import simulate_bgnbd
from tests.unit.scoring.estimation import auc


def test_ranks_future_non_buyers_better_than_one_minus_p_alive() -> None:
    rng = np.random.default_rng(2024)
    truth = bgnbd.BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
    holdout = churn_risk.horizon_in_units(90, "week")
    population = simulate_bgnbd(truth, rng.uniform(2.0, 78.0, 60_000), rng, holdout=holdout)
    x, t_x, big_t = population.frequency, population.recency, population.age
    fitted = bgnbd.fit(x, t_x, big_t)
    no_purchase = population.holdout_purchases == 0

    risk = churn_risk.churn_risk(fitted, x, t_x, big_t, "week")
    naive = 1.0 - bgnbd.p_alive(fitted, x, t_x, big_t)
    risk_auc, naive_auc = auc(risk, no_purchase), auc(naive, no_purchase)
    print(f"AUC churn_risk={risk_auc:.3f}  1-P(alive)={naive_auc:.3f}")
    assert risk_auc > 0.75
    assert risk_auc > naive_auc + 0.1


def test_signals_shift_the_logit() -> None:
    settings = churn_risk.ChurnRiskSettings(complaint_weight=0.5, contact_weight=0.25)
    base = np.array([0.5, 0.5, 0.5, 0.2])
    adjusted = churn_risk.adjust_for_signals(base, [0, 1, 0, 10], [0, 0, 2, 0], settings)
    assert adjusted[0] == pytest.approx(0.5)
    assert adjusted[1] == pytest.approx(1 / (1 + np.exp(-0.5)))
    assert adjusted[2] == pytest.approx(1 / (1 + np.exp(0.5)))
    capped = 1 / (1 + np.exp(-(np.log(0.2 / 0.8) + 1.5)))  # at most 3 complaints count
    assert adjusted[3] == pytest.approx(capped)


def test_default_horizon_is_90_days_in_the_model_unit() -> None:
    params = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    weekly = churn_risk.churn_risk(params, 2, 30.0, 38.0, "week")
    explicit = bgnbd.prob_no_purchase(params, 90 / 7, 2, 30.0, 38.0)
    assert float(weekly) == pytest.approx(float(explicit), rel=1e-9)
    assert churn_risk.horizon_in_units(90, "month") == pytest.approx(90 / 30.4375)
