"""All tunable scoring settings in one place; the service layer maps env settings onto it."""

from dataclasses import dataclass, field

from services.scoring.domain.bgnbd import BgNbdFitSettings
from services.scoring.domain.churn_risk import ChurnRiskSettings
from services.scoring.domain.clv import ClvSettings
from services.scoring.domain.gamma_gamma import GammaGammaFitSettings
from services.scoring.domain.health import HealthWeights
from services.scoring.domain.summary import TimeUnit


@dataclass(frozen=True)
class ScoringParameters:
    time_unit: TimeUnit = "week"
    bgnbd_fit: BgNbdFitSettings = field(default_factory=BgNbdFitSettings)
    gamma_gamma_fit: GammaGammaFitSettings = field(default_factory=GammaGammaFitSettings)
    clv: ClvSettings = field(default_factory=ClvSettings)
    churn_risk: ChurnRiskSettings = field(default_factory=ChurnRiskSettings)
    health: HealthWeights = field(default_factory=HealthWeights)
