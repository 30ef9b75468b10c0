import numpy as np
import pytest

from services.scoring.domain import bgnbd, clv

CDNOW = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_discounted_clv_sums_monthly_increments() -> None:
    x, t_x, big_t, spend = np.array([0, 2, 7]), np.array([0, 30.43, 35]), 38.86, 40.0
    settings = clv.ClvSettings(horizon_months=12, monthly_discount_rate=0.01, margin=0.3)
    value = clv.discounted_clv(CDNOW, x, t_x, big_t, spend, "week", settings)
    month = 30.4375 / 7
    expected = np.zeros(3)
    for k in range(1, 13):
        increment = bgnbd.expected_purchases(CDNOW, k * month, x, t_x, big_t) - (
            bgnbd.expected_purchases(CDNOW, (k - 1) * month, x, t_x, big_t)
        )
        expected += increment * spend * 0.3 / 1.01**k
    assert np.allclose(value, expected, rtol=1e-12)
    undiscounted = clv.discounted_clv(
        CDNOW, x, t_x, big_t, spend, "week", clv.ClvSettings(monthly_discount_rate=0.0)
    )
    total = bgnbd.expected_purchases(CDNOW, 12 * month, x, t_x, big_t) * spend
    assert np.allclose(undiscounted, total)
    assert np.all(value < undiscounted)


def test_seed_formulas() -> None:
    assert clv.historical_value([100, 200, 50]) == 350
    assert clv.current_value(1000, 3) == 3000
    assert clv.value_with_churn(1000, 3, 0.2) == pytest.approx(3000 * 0.8**3)
    assert clv.net_value(1000, 3, 0.2, 300, 100) == pytest.approx(3000 * 0.512 - 400)
    assert clv.lifetime_from_renewal_rate(0.7) == pytest.approx(1 / 0.3)  # about 3 years
    assert clv.lifetime_from_renewal_rate(1.0) == float("inf")
    assert clv.ltv_to_cac(900, 300) == 3
    assert not clv.is_healthy(3.0)
    assert clv.is_healthy(3.5)
    with pytest.raises(ValueError):
        clv.lifetime_from_renewal_rate(1.2)
