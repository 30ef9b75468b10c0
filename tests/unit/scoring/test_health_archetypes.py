"""Issue 16.5: health of customer archetypes, scored end to end (statistics -> scores), against
expected bands; a lost prospect and a churned customer are unhealthy; NPS counts."""

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.gamma_gamma import GammaGammaParams
from services.scoring.domain.health import health_score
from services.scoring.domain.parameters import ScoringParameters
from services.scoring.domain.rfm import RfmCutPoints
from services.scoring.service_layer.model import ScoringModel
from services.scoring.service_layer.scorer import Statistics, score

TODAY = 20_500  # days since 1970-01-01
MODEL = ScoringModel(
    model_id="m",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    as_of=datetime(2026, 1, 1, tzinfo=UTC),
    time_unit="week",
    bgnbd=BgNbdParams(r=0.6, alpha=5.0, a=0.7, b=3.0),
    gamma_gamma=GammaGammaParams(p=6.0, q=3.5, gamma=25_000.0),
    rfm_cuts=RfmCutPoints((4.0, 10.0, 20.0, 40.0), (1.0, 2.0, 4.0, 8.0), (1e4, 5e4, 2e5, 1e6)),
)


@dataclass(frozen=True)
class Archetype:
    name: str
    occasions: int
    first_seen_ago: int  # days
    first_ago: int  # days since the first purchase (0 when none)
    last_ago: int
    complaints: int = 0
    satisfaction: float = np.nan
    nps: float = np.nan
    band: tuple[float, float] = (0.0, 100.0)


ARCHETYPES = [
    Archetype("loyal regular, promoter", 40, 400, 380, 3, nps=10, band=(75, 100)),
    Archetype("loyal regular, no survey", 40, 400, 380, 3, band=(70, 100)),
    Archetype("new prospect, seen yesterday", 0, 1, 0, 0, band=(60, 100)),
    Archetype("prospect lost without buying", 0, 120, 0, 0, band=(0, 15)),
    Archetype("prospect lost without buying, survey 9", 0, 200, 0, 0, nps=9, band=(0, 15)),
    Archetype("churned: one 20 CNY order 400 days ago", 1, 410, 400, 400, band=(0, 20)),
    Archetype("regular gone quiet for a year", 12, 800, 760, 360, band=(0, 25)),
    Archetype("regular with open complaints, detractor", 40, 400, 380, 3, complaints=3,
              satisfaction=1, nps=1, band=(30, 65)),
]  # fmt: skip


def _stats(rows: list[Archetype]) -> Statistics:
    n = len(rows)
    return Statistics(
        occasions=np.array([a.occasions for a in rows], dtype=np.int64),
        first_day=np.array([TODAY - a.first_ago for a in rows], dtype=np.int64),
        last_day=np.array([TODAY - a.last_ago for a in rows], dtype=np.int64),
        total_spend=np.array([20.0 * max(a.occasions, 0) for a in rows]),
        first_amount=np.full(n, 20.0),
        as_of_day=TODAY,
        complaints=np.array([float(a.complaints) for a in rows]),
        contacts=np.zeros(n),
        satisfaction=np.array([a.satisfaction for a in rows]),
        nps=np.array([a.nps for a in rows]),
        first_seen_day=np.array([TODAY - a.first_seen_ago for a in rows], dtype=np.int64),
    )


def test_archetypes_fall_in_their_health_bands() -> None:
    health = score(_stats(ARCHETYPES), MODEL, ScoringParameters()).health_score
    found = {a.name: round(float(h), 1) for a, h in zip(ARCHETYPES, health, strict=True)}
    print(found)
    for archetype, value in zip(ARCHETYPES, health, strict=True):
        low, high = archetype.band
        assert low <= value <= high, (archetype.name, float(value))


def test_without_a_model_a_lost_prospect_is_still_unhealthy() -> None:
    lost = [a for a in ARCHETYPES if a.name == "prospect lost without buying"]
    assert float(score(_stats(lost), None, ScoringParameters()).health_score[0]) <= 15


def test_nps_moves_health_a_promoter_above_a_detractor() -> None:
    promoter = health_score(churn_risk=0.2, recency_score=4, complaints=0, nps=10)
    detractor = health_score(churn_risk=0.2, recency_score=4, complaints=0, nps=0)
    assert float(promoter) - float(detractor) >= 10


def test_an_ending_relationship_caps_health_whatever_else_looks_fine() -> None:
    """health = 100 · weighted mean · min(1, retention / 0.5)."""
    ending = health_score(churn_risk=0.9, recency_score=5, complaints=0, satisfaction=5, nps=10)
    mean = (0.4 * 0.1 + 0.2 + 0.15 + 0.15 + 0.1) / 1.0
    assert float(ending) == pytest.approx(100 * mean * (0.1 / 0.5))
