"""Scoring settings (env prefix CLM_SCORING_; Kafka and database from the common names)."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.scoring.domain.churn_risk import ChurnRiskSettings
from services.scoring.domain.clv import ClvSettings
from services.scoring.domain.parameters import ScoringParameters
from shared.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLM_SCORING_", extra="ignore")

    service_name: str = "scoring"
    consumer_group: str = "clm-scoring"
    consumer_max_records: int = 10_000
    # Group members in this process: while one waits on the database another works (bench/).
    consumer_members: int = Field(default=3, ge=1, le=12)
    # Scheduled population refit; 0 disables it. The first one runs one interval after start.
    refit_interval_hours: float = Field(default=24.0, ge=0)
    refit_time_unit: Literal["day", "week", "month"] = "week"
    # Complaints opened and inbound contacts within this window count as churn signals.
    signal_window_days: float = 90.0
    churn_horizon_days: float = 90.0
    complaint_weight: float = 0.5
    contact_weight: float = 0.25
    clv_horizon_months: int = 12
    monthly_discount_rate: float = 0.01
    margin: float = 1.0
    # A one-time buyer's first order counts as this many observations of their spend (README).
    first_order_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    # How often an instance checks whether another one made a new model current.
    model_refresh_seconds: float = 5.0
    # Bulk rescore: customers prepared and copied per part (bounds the memory it takes).
    rescore_chunk_size: int = Field(default=100_000, ge=1)
    relay_outbox: bool = True
    # GDPR erasure (read from clm.customer-state.v1): keep the aggregates and scores under a
    # pseudonymous id instead of deleting them (services/scoring/adapters/erasure.py).
    erasure_keep_aggregates: bool = False

    def parameters(self, time_unit: Literal["day", "week", "month"]) -> ScoringParameters:
        return ScoringParameters(
            time_unit=time_unit,
            clv=ClvSettings(
                horizon_months=self.clv_horizon_months,
                monthly_discount_rate=self.monthly_discount_rate,
                margin=self.margin,
                first_order_weight=self.first_order_weight,
            ),
            churn_risk=ChurnRiskSettings(
                horizon_days=self.churn_horizon_days,
                complaint_weight=self.complaint_weight,
                contact_weight=self.contact_weight,
            ),
        )


@lru_cache
def get_settings() -> ScoringSettings:
    return ScoringSettings()
