"""Use cases of the scoring service: online scoring of event batches, fits, bulk rescoring,
and the read models behind the HTTP API."""

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from time import monotonic, perf_counter
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.scoring.adapters import customer_store, model_store, population
from services.scoring.adapters.statistics import CustomerRows
from services.scoring.domain import bgnbd
from services.scoring.domain.parameters import ScoringParameters
from services.scoring.domain.summary import TimeUnit
from services.scoring.service_layer import facts as batch_facts
from services.scoring.service_layer.fitting import fit_population
from services.scoring.service_layer.model import ScoringModel
from services.scoring.service_layer.publishing import Message, material_changes, score_messages
from services.scoring.service_layer.scorer import Scores, score
from services.scoring.settings import ScoringSettings
from shared.dedup import claim_new
from shared.erasure import drop_erased
from shared.events import CustomerEvent
from shared.exchange_rates import RatesCache
from shared.logging import get_logger
from shared.outbox import write_encoded
from shared.periodic import run_periodically
from shared.topics import CUSTOMER_SCORES

log = get_logger(__name__)
SERVICE = "scoring"
T = TypeVar("T")


class ScoringService:
    def __init__(self, engine: AsyncEngine, settings: ScoringSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._model: ScoringModel | None = None
        self._model_checked = -1e9
        self._fit_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._rates = RatesCache(settings.reporting_currency)

    def parameters(self, model: ScoringModel | None) -> ScoringParameters:
        return self.settings.parameters(model.time_unit if model else self.settings.refit_time_unit)

    # -- the current model, shared by every instance through the database
    async def current_model(self, max_age: float | None = None) -> ScoringModel | None:
        max_age = self.settings.model_refresh_seconds if max_age is None else max_age
        if monotonic() - self._model_checked > max_age:
            async with self.engine.connect() as conn:
                newest = await model_store.current_id(conn)
                if newest is None:
                    self._model = None
                elif (
                    self._model is None
                    or self._model.model_id != newest
                    # Another instance (or this one) may have finished its rescore since.
                    or self._model.rescore_status in ("pending", "running")
                ):
                    self._model = await model_store.get(conn, newest)
            self._model_checked = monotonic()
        return self._model

    # -- online scoring: one transaction per batch
    async def handle_events(self, events: list[CustomerEvent]) -> int:
        """Applies a batch; returns how many events were new (the rest were repeats)."""
        return (await self.handle_convertible(events))[0]

    async def handle_convertible(self, events: list[CustomerEvent]) -> tuple[int, set[str]]:
        """Applies a batch's events whose money converts to the reporting currency; returns
        how many were new and the ids of those that do not convert (left unapplied: ingest
        refuses them, so they came another way)."""
        unique = list({e.event_id: e for e in reversed(events)}.values())[::-1]
        model = await self.current_model()
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            rates = await self._rates.current(conn)
            unique, unconvertible = batch_facts.convertible(unique, rates)
            # Worked out in a thread while the database checks erasures and repeats.
            speculative = asyncio.ensure_future(
                asyncio.to_thread(batch_facts.collect, unique, rates)
            )
            kept = await drop_erased(  # events of erased customers never restore their data
                conn, unique, lambda e: e.customer_id, self.settings.erasure_secret, SERVICE
            )
            # Keyed by the state owner, not the group: a second group must not apply it again.
            fresh = await claim_new(conn, SERVICE, [e.event_id for e in kept])
            new = [e for e in kept if e.event_id in fresh]
            facts = await speculative
            if len(new) < len(unique):  # only the new events of customers not erased count
                facts = batch_facts.collect(new, rates)
            if not facts.first_seen:
                return 0, unconvertible
            calendar = self.settings.business_calendar
            await customer_store.record_facts(conn, facts, calendar)
            rows = await customer_store.load_customers(
                conn,
                sorted(facts.first_seen),
                now,
                self.settings.signal_window_days,
                calendar,
                coverage="batch",
            )
            scores = score(rows.stats, model, self.parameters(model))
            publish = self._material(rows, scores, model)
            columns = customer_store.score_columns(
                rows, scores, _id(model), _unit(model), now, publish
            )
            columns.update(customer_store.fact_columns(facts, rows.customer_ids))
            causes = [facts.causes[c] for c in rows.customer_ids]
            # Encoded in a thread while the database writes the scores.
            messages = asyncio.ensure_future(
                asyncio.to_thread(_messages, rows, scores, model, now, publish, causes)
            )
            await customer_store.store_scores(conn, columns)
            await write_encoded(conn, SERVICE, CUSTOMER_SCORES, await messages, bulk=True)
        return len(new), unconvertible

    @staticmethod
    def _material(rows: CustomerRows, scores: Scores, model: ScoringModel | None) -> Any:
        if model is None or scores.segment is None:
            return np.zeros(len(rows), dtype=bool)
        return material_changes(
            rows.published, scores.p_alive, scores.churn_risk, scores.clv, scores.segment
        )

    # -- population fit and bulk rescore
    async def fit(self, as_of: datetime, time_unit: TimeUnit) -> ScoringModel:
        """One fit at a time in this process and across every replica (an advisory lock)."""
        async with self._fit_lock, _advisory_lock(self.engine, population.FIT_LOCK):
            started = perf_counter()
            async with self.engine.connect() as conn:
                stats = await population.extract_population(
                    conn, as_of, self.settings.signal_window_days, self.settings.business_calendar
                )
            extracted = perf_counter() - started
            created = datetime.now(UTC)
            model_id = f"m-{created:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
            model, summary = await asyncio.to_thread(
                fit_population,
                stats,
                model_id=model_id,
                created_at=created,
                as_of=as_of,
                time_unit=time_unit,
                parameters=self.settings.parameters(time_unit),
                extract_seconds=extracted,
            )
            async with self.engine.begin() as conn:
                await model_store.save(conn, model, summary)
            self._model, self._model_checked = model, monotonic()
            log.info(
                "model_fitted",
                model_id=model_id,
                customers=len(stats),
                extract_seconds=round(extracted, 3),
                fit_seconds=round(model.fit_seconds, 3),
            )
            return model

    def rescore_in_background(self, model: ScoringModel) -> None:
        task = asyncio.create_task(self._rescore_logged(model))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _rescore_logged(self, model: ScoringModel) -> None:
        try:
            await self.rescore_all(model)
        except Exception as exc:  # the model stays usable; online scoring keeps using it
            log.exception("rescore_failed", model_id=model.model_id, error=repr(exc))
            async with self.engine.begin() as conn:
                await model_store.mark_rescore(conn, model, "failed")

    async def rescore_all(self, model: ScoringModel) -> int:
        """Every customer scored with ``model`` as of now; material changes to the outbox.

        One read of every customer and the maths over all of them at once; then, per part of
        ``rescore_chunk_size`` customers, one short transaction: the new scores copied into
        the connection's staging table, written over the stored rows in customer-id order
        (``population.apply_rescore``) and the part's score updates copied into the outbox.
        A worker thread prepares each next part while one is written.
        """
        started = perf_counter()
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = await customer_store.load_customers(
                conn, None, now, self.settings.signal_window_days, self.settings.business_calendar
            )
        read = perf_counter() - started
        parameters = self.parameters(model)
        scores = await asyncio.to_thread(score, rows.stats, model, parameters)
        publish = self._material(rows, scores, model)
        scored = perf_counter() - started - read
        chunk = self.settings.rescore_chunk_size
        starts = list(range(0, len(rows), chunk)) or [0]
        cause = f"rescore:{model.model_id}"

        def staging(lo: int) -> list[tuple[Any, ...]]:
            columns = customer_store.score_columns(
                rows, scores, model.model_id, model.time_unit, now, publish, slice(lo, lo + chunk)
            )
            return customer_store.staging_records(columns)

        def updates(lo: int, stale: set[str]) -> list[Message]:
            indices = lo + np.flatnonzero(publish[lo : lo + chunk])
            if stale:
                indices = np.array([i for i in indices if rows.customer_ids[i] not in stale])
            indices = indices.astype(np.int64)
            messages = _messages_at(rows, scores, model, now, indices, [cause] * len(indices))
            return messages

        kept_stored = 0

        async def write(lo_and_part: tuple[int, list[tuple[Any, ...]]]) -> None:
            nonlocal kept_stored
            lo, part = lo_and_part
            if not part:
                return
            async with self.engine.begin() as conn:
                await population.stage_rescore(conn, part)
                stale = await population.apply_rescore(conn)
                messages = await asyncio.to_thread(updates, lo, stale)
                await write_encoded(conn, SERVICE, CUSTOMER_SCORES, messages, bulk=True)
            kept_stored += len(stale)

        await _pipelined(starts, lambda lo: (lo, staging(lo)), write)
        written = len(rows) - kept_stored
        seconds = perf_counter() - started
        async with self.engine.begin() as conn:
            marked = await model_store.mark_rescore(conn, model, "done", written, seconds)
        if self._model is not None and self._model.model_id == model.model_id:
            self._model = marked
        log.info(
            "rescored",
            model_id=model.model_id,
            customers=written,
            parts=len(starts),
            seconds=round(seconds, 2),
            read_seconds=round(read, 2),
            score_seconds=round(scored, 2),
        )
        return written

    async def refit_if_due(self, now: datetime) -> ScoringModel | None:
        """The scheduled refit and rescore, by one replica per interval: the one that gets
        the advisory lock, and only when the current model is older than the interval."""
        interval = timedelta(hours=self.settings.refit_interval_hours)
        async with self.engine.connect() as lock:
            taken = await lock.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"),
                {"key": population.SCHEDULED_REFIT_LOCK},
            )
            await lock.commit()  # a session lock outlives the transaction; no snapshot kept
            if not taken:
                log.info("scheduled_refit_skipped", reason="another replica is refitting")
                return None
            try:
                current = await self.current_model(max_age=0)
                # Another replica refitted within this interval (a tenth of slack for timers).
                if current is not None and now - current.as_of < interval * 0.9:
                    log.info("scheduled_refit_skipped", reason="the current model is recent")
                    return None
                model = await self.fit(now, self.settings.refit_time_unit)
                await self.rescore_all(model)
                return model
            finally:
                await lock.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"),
                    {"key": population.SCHEDULED_REFIT_LOCK},
                )
                await lock.commit()

    async def refit_periodically(self, stopping: asyncio.Event) -> None:
        """Once per interval, after the first (a failed refit keeps the previous model)."""
        interval = self.settings.refit_interval_hours * 3600
        if interval <= 0:
            return
        await run_periodically(
            "scheduled_refit", self._refit_now, interval, stopping, wait_first=True
        )

    async def _refit_now(self) -> bool:
        await self.refit_if_due(datetime.now(UTC))
        return False

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- reads
    async def customer(
        self, customer_id: str, as_of: datetime | None, horizon: float | None
    ) -> dict[str, Any] | None:
        model = await self.current_model()
        moment = as_of or datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = await customer_store.load_customers(
                conn,
                [customer_id],
                moment,
                self.settings.signal_window_days,
                self.settings.business_calendar,
            )
        if not len(rows):
            return None
        parameters = self.parameters(model)
        scores = score(rows.stats, model, parameters, horizon)
        return describe_customer(rows, scores, model, moment, self.settings)

    async def forecast(self, horizon: float) -> dict[str, Any] | None:
        model = await self.current_model()
        if model is None:
            return None
        async with self.engine.connect() as conn:
            summary = await model_store.summary(conn, model.model_id)
        assert summary is not None
        expected = bgnbd.expected_purchases(
            model.bgnbd, horizon, summary.frequency, summary.recency, summary.age
        )
        return {
            "model_id": model.model_id,
            "as_of": model.as_of.isoformat(),
            "time_unit": model.time_unit,
            "horizon": horizon,
            "n_customers": int(summary.weights.sum()),
            "expected_repeat_purchases": float(summary.weights @ expected),
        }


@asynccontextmanager
async def _advisory_lock(engine: AsyncEngine, key: int) -> AsyncIterator[None]:
    """A PostgreSQL session advisory lock, waited for, held while the block runs."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            await conn.commit()


async def _pipelined(
    starts: list[int],
    prepare: Callable[[int], T],
    write: Callable[[T], Awaitable[None]],
) -> None:
    """``write(prepare(lo))`` for every ``lo``, part k + 1 prepared in a worker thread while
    part k is written."""
    upcoming = asyncio.ensure_future(asyncio.to_thread(prepare, starts[0]))
    for k in range(len(starts)):
        part = await upcoming
        if k + 1 < len(starts):
            upcoming = asyncio.ensure_future(asyncio.to_thread(prepare, starts[k + 1]))
        await write(part)


def _id(model: ScoringModel | None) -> str | None:
    return model.model_id if model else None


def _unit(model: ScoringModel | None) -> str | None:
    return model.time_unit if model else None


def _messages_at(
    rows: CustomerRows,
    scores: Scores,
    model: ScoringModel,
    now: datetime,
    indices: Any,
    causes: list[str],
) -> list[Message]:
    """Score updates of the customers at ``indices`` (positions in ``rows``)."""
    assert scores.segment is not None
    return score_messages(
        customer_ids=[rows.customer_ids[i] for i in indices],
        model_id=model.model_id,
        causes=causes,
        time=now,
        p_alive=scores.p_alive[indices],
        churn_risk=scores.churn_risk[indices],
        expected_purchases=scores.expected_purchases[indices],
        expected_avg_spend=scores.expected_avg_spend[indices],
        clv=scores.clv[indices],
        segment=scores.segment[indices],
        health_score=scores.health_score[indices],
        horizon=scores.horizon,
        time_unit=model.time_unit,
    )


def _messages(
    rows: CustomerRows,
    scores: Scores,
    model: ScoringModel | None,
    now: datetime,
    publish: Any,
    causes: list[str],
) -> list[Message]:
    if model is None:
        return []
    indices = np.flatnonzero(publish)
    return _messages_at(rows, scores, model, now, indices, [causes[i] for i in indices])


def _maybe(value: Any) -> float | None:
    number = float(value)
    return None if np.isnan(number) else number


def describe_customer(
    rows: CustomerRows,
    scores: Scores,
    model: ScoringModel | None,
    moment: datetime,
    settings: ScoringSettings,
) -> dict[str, Any]:
    stats = rows.stats
    historical = float(stats.total_spend[0]) * settings.margin
    cost = _maybe(rows.acquisition_costs[0])
    clv = _maybe(scores.clv[0])
    buyer = bool(stats.occasions[0] > 0)
    rfm = None
    if model is not None and buyer and scores.segment is not None:
        assert scores.rfm_recency is not None and scores.rfm_frequency is not None
        assert scores.rfm_monetary is not None
        rfm = {
            "recency": int(scores.rfm_recency[0]),
            "frequency": int(scores.rfm_frequency[0]),
            "monetary": int(scores.rfm_monetary[0]),
            "score": f"{scores.rfm_recency[0]}{scores.rfm_frequency[0]}{scores.rfm_monetary[0]}",
            "segment": str(scores.segment[0]),
        }
    return {
        "customer_id": rows.customer_ids[0],
        "currency": settings.reporting_currency,  # of every amount here
        "as_of": moment.isoformat(),
        "model_id": _id(model),
        "model_as_of": model.as_of.isoformat() if model else None,
        "time_unit": model.time_unit if model else None,
        "horizon": scores.horizon,
        "p_alive": _maybe(scores.p_alive[0]),
        "churn_risk": _maybe(scores.churn_risk[0]),
        "expected_purchases": _maybe(scores.expected_purchases[0]),
        "expected_avg_spend": _maybe(scores.expected_avg_spend[0]),
        "clv": clv,
        "clv_horizon_months": settings.clv_horizon_months,
        "monthly_discount_rate": settings.monthly_discount_rate,
        "rfm": rfm,
        "health_score": _maybe(scores.health_score[0]),
        "historical_value": historical,
        "acquisition_cost": cost,
        "ltv_to_cac": (clv + historical) / cost if clv is not None and cost else None,
        "statistics": {
            "purchase_occasions": int(stats.occasions[0]),
            "frequency": int(scores.frequency[0]),
            "recency": float(scores.recency[0]) if buyer else None,
            "age": float(scores.age[0]) if buyer else None,
            "monetary": float(scores.monetary[0]),
            "total_spend": float(stats.total_spend[0]),
            "complaints": int(stats.complaints[0]),
            "inbound_contacts": int(stats.contacts[0]),
            "satisfaction": _maybe(stats.satisfaction[0]),
            "nps": _maybe(stats.latest_nps()[0]),
        },
    }
