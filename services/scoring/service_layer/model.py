"""A fitted population model as the service keeps it: both fits, RFM cut points, provenance."""

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.gamma_gamma import GammaGammaParams
from services.scoring.domain.rfm import RfmCutPoints
from services.scoring.domain.summary import CollapsedSummary, TimeUnit


@dataclass(frozen=True)
class ScoringModel:
    model_id: str
    created_at: datetime
    as_of: datetime
    time_unit: TimeUnit
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    rfm_cuts: RfmCutPoints
    fit_seconds: float = 0.0
    extract_seconds: float = 0.0
    rescore_status: str = "pending"
    rescored_customers: int | None = None
    rescore_seconds: float | None = None

    def describe(self) -> dict[str, Any]:
        """The CONTRACT.md shape, plus provenance fields."""
        bg, gg = self.bgnbd, self.gamma_gamma
        return {
            "model_id": self.model_id,
            "as_of": self.as_of.isoformat(),
            "time_unit": self.time_unit,
            "bgnbd": {
                "r": bg.r,
                "alpha": bg.alpha,
                "a": bg.a,
                "b": bg.b,
                "log_likelihood": bg.log_likelihood,
                "n_customers": bg.n_customers,
                "converged": bg.converged,
                "iterations": bg.iterations,
            },
            "gamma_gamma": {
                "p": gg.p,
                "q": gg.q,
                "gamma": gg.gamma,
                "log_likelihood": gg.log_likelihood,
                "n_customers": gg.n_customers,
            },
            "rfm_cut_points": {
                "recency": list(self.rfm_cuts.recency),
                "frequency": list(self.rfm_cuts.frequency),
                "monetary": list(self.rfm_cuts.monetary),
            },
            "created_at": self.created_at.isoformat(),
            "fit_seconds": self.fit_seconds,
            "extract_seconds": self.extract_seconds,
            "rescore": {
                "status": self.rescore_status,
                "customers": self.rescored_customers,
                "seconds": self.rescore_seconds,
            },
        }


def pack_summary(summary: CollapsedSummary) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, x=summary.frequency, t_x=summary.recency, T=summary.age, w=summary.weights
    )
    return buffer.getvalue()


def unpack_summary(blob: bytes) -> CollapsedSummary:
    data = np.load(io.BytesIO(blob))
    return CollapsedSummary(
        data["x"], data["t_x"], data["T"], data["w"], np.zeros(0, dtype=np.int64)
    )
