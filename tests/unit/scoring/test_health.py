import numpy as np
import pytest

from services.scoring.domain.health import HealthWeights, health_score


def test_perfect_and_worst_customers() -> None:
    best = health_score(churn_risk=0.0, recency_score=5, complaints=0, satisfaction=5, nps=10)
    worst = health_score(churn_risk=1.0, recency_score=1, complaints=1e9, satisfaction=1, nps=0)
    assert float(best) == pytest.approx(100.0)
    assert float(worst) == pytest.approx(0.0, abs=1e-6)


def test_weighted_formula() -> None:
    score = health_score(churn_risk=0.3, recency_score=3, complaints=1, satisfaction=4, nps=8)
    expected = 100 * (0.4 * 0.7 + 0.2 * 0.5 + 0.15 * 0.5 + 0.15 * 0.75 + 0.1 * 0.8)
    assert float(score) == pytest.approx(expected)


def test_missing_inputs_reweight_the_rest() -> None:
    score = health_score(churn_risk=0.3, recency_score=3, complaints=1)
    expected = 100 * (0.4 * 0.7 + 0.2 * 0.5 + 0.15 * 0.5) / 0.75
    assert float(score) == pytest.approx(expected)
    vector = health_score(
        churn_risk=[0.3, 0.3], recency_score=[3, 3], complaints=[1, 1], satisfaction=[np.nan, 5]
    )
    assert vector[0] == pytest.approx(expected)
    assert vector[1] > vector[0]
    assert np.isnan(health_score())


def test_custom_weights() -> None:
    only_retention = HealthWeights(1.0, 0.0, 0.0, 0.0, 0.0)
    score = health_score(churn_risk=0.25, recency_score=1, weights=only_retention)
    assert float(score) == pytest.approx(75.0)
