"""Versioned models in scoring_models; the newest one is current."""

from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from services.scoring.adapters.tables import models
from services.scoring.domain.bgnbd import BgNbdParams
from services.scoring.domain.gamma_gamma import GammaGammaParams
from services.scoring.domain.rfm import RfmCutPoints
from services.scoring.domain.summary import CollapsedSummary
from services.scoring.service_layer.model import ScoringModel, pack_summary, unpack_summary

_COLUMNS = [c for c in models.c if c.name != "summary"]


def _params(params: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(params).items()}


def _model(row: RowMapping) -> ScoringModel:
    cuts = row["rfm_cuts"]
    return ScoringModel(
        model_id=row["model_id"],
        created_at=row["created_at"],
        as_of=row["as_of"],
        time_unit=row["time_unit"],
        bgnbd=BgNbdParams(**row["bgnbd"]),
        gamma_gamma=GammaGammaParams(**row["gamma_gamma"]),
        rfm_cuts=RfmCutPoints(
            tuple(cuts["recency"]), tuple(cuts["frequency"]), tuple(cuts["monetary"])
        ),
        fit_seconds=row["fit_seconds"],
        extract_seconds=row["extract_seconds"],
        rescore_status=row["rescore_status"],
        rescored_customers=row["rescored_customers"],
        rescore_seconds=row["rescore_seconds"],
    )


async def save(conn: AsyncConnection, model: ScoringModel, summary: CollapsedSummary) -> None:
    cuts = model.rfm_cuts
    await conn.execute(
        models.insert().values(
            model_id=model.model_id,
            created_at=model.created_at,
            as_of=model.as_of,
            time_unit=model.time_unit,
            bgnbd=orjson.loads(orjson.dumps(_params(model.bgnbd))),
            gamma_gamma=orjson.loads(orjson.dumps(_params(model.gamma_gamma))),
            rfm_cuts={
                "recency": list(cuts.recency),
                "frequency": list(cuts.frequency),
                "monetary": list(cuts.monetary),
            },
            converged=model.bgnbd.converged,
            fit_seconds=model.fit_seconds,
            extract_seconds=model.extract_seconds,
            summary=pack_summary(summary),
            rescore_status=model.rescore_status,
        )
    )


async def current(conn: AsyncConnection) -> ScoringModel | None:
    row = (
        (await conn.execute(sa.select(*_COLUMNS).order_by(models.c.created_at.desc()).limit(1)))
        .mappings()
        .first()
    )
    return _model(row) if row else None


async def current_id(conn: AsyncConnection) -> str | None:
    return await conn.scalar(
        sa.select(models.c.model_id).order_by(models.c.created_at.desc()).limit(1)
    )


async def get(conn: AsyncConnection, model_id: str) -> ScoringModel | None:
    row = (
        (await conn.execute(sa.select(*_COLUMNS).where(models.c.model_id == model_id)))
        .mappings()
        .first()
    )
    return _model(row) if row else None


async def summary(conn: AsyncConnection, model_id: str) -> CollapsedSummary | None:
    blob = await conn.scalar(sa.select(models.c.summary).where(models.c.model_id == model_id))
    return unpack_summary(blob) if blob else None


async def mark_rescore(
    conn: AsyncConnection,
    model: ScoringModel,
    status: str,
    customers: int | None = None,
    seconds: float | None = None,
) -> ScoringModel:
    await conn.execute(
        models.update()
        .where(models.c.model_id == model.model_id)
        .values(rescore_status=status, rescored_customers=customers, rescore_seconds=seconds)
    )
    return replace(
        model, rescore_status=status, rescored_customers=customers, rescore_seconds=seconds
    )
