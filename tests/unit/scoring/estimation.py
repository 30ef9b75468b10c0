"""Standard errors from the observed information, to size recovery tolerances."""

from collections.abc import Callable

import numpy as np


def standard_errors(
    total_log_likelihood: Callable[[np.ndarray], float], estimate: np.ndarray
) -> np.ndarray:
    """sqrt(diag(H⁻¹)) with H the central-difference Hessian of −LL at the estimate."""
    k = len(estimate)
    steps = 1e-4 * np.maximum(np.abs(estimate), 1e-3)
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei = np.eye(k)[i] * steps[i]
            ej = np.eye(k)[j] * steps[j]
            hessian[i, j] = -(
                total_log_likelihood(estimate + ei + ej)
                - total_log_likelihood(estimate + ei - ej)
                - total_log_likelihood(estimate - ei + ej)
                + total_log_likelihood(estimate - ei - ej)
            ) / (4 * steps[i] * steps[j])
    return np.sqrt(np.diag(np.linalg.inv(hessian)))


def auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic (ties count half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos = int(positives.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
