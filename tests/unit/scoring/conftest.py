from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scoring"


@pytest.fixture(scope="session")
def cdnow_summary() -> np.ndarray:
    """Columns ID, x, t_x, T (weeks to 1997-09-30), zbar (mean repeat spend)."""
    return np.genfromtxt(
        FIXTURES / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True
    )


@pytest.fixture(scope="session")
def cdnow_transactions() -> np.ndarray:
    """Columns: master id, sample id, yyyymmdd, quantity, amount."""
    return np.loadtxt(FIXTURES / "CDNOW_sample.txt", dtype=str)
