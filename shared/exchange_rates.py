"""The operator's exchange rates in PostgreSQL, and a cached view of them for the services.

Ingest writes them (PUT /v1/exchange-rates, `clm rates load`); every service reads them. Each
write takes a new `revision`, so a reader knows with one small query whether its copy is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import metadata
from shared.money import ExchangeRate, ExchangeRates

exchange_rates = sa.Table(
    "exchange_rates",
    metadata,
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("reporting_currency", sa.String(3), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("rate", sa.Numeric(24, 10), nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
)

_UPSERT = sa.text(
    """
    INSERT INTO exchange_rates (currency, reporting_currency, day, rate, revision)
    SELECT c, :reporting, d, r, nextval('exchange_rates_revision')
    FROM unnest(CAST(:currencies AS varchar[]), CAST(:days AS date[]), CAST(:rates AS numeric[]))
        AS t(c, d, r)
    ON CONFLICT (currency, reporting_currency, day) DO UPDATE
        SET rate = excluded.rate, revision = excluded.revision
        WHERE exchange_rates.rate IS DISTINCT FROM excluded.rate
    """
)
_REVISION = sa.text(
    "SELECT coalesce(max(revision), 0) FROM exchange_rates WHERE reporting_currency = :reporting"
)
_ALL = sa.text(
    "SELECT currency, day, rate FROM exchange_rates WHERE reporting_currency = :reporting "
    "ORDER BY currency, day"
)


async def store(
    conn: AsyncConnection, reporting_currency: str, rates: Sequence[ExchangeRate]
) -> None:
    if rates:
        await conn.execute(
            _UPSERT,
            {
                "reporting": reporting_currency,
                "currencies": [r.currency for r in rates],
                "days": [r.day for r in rates],
                "rates": [r.rate for r in rates],
            },
        )


async def load(conn: AsyncConnection, reporting_currency: str) -> ExchangeRates:
    rows = (await conn.execute(_ALL, {"reporting": reporting_currency})).all()
    return ExchangeRates.of(
        reporting_currency, [ExchangeRate(c, d, Decimal(r)) for c, d, r in rows]
    )


class RatesCache:
    """The rates as last read; `current` re-reads them only when a write happened since."""

    def __init__(self, reporting_currency: str) -> None:
        self.reporting_currency = reporting_currency
        self._rates = ExchangeRates.of(reporting_currency, [])
        self._revision = -1

    async def current(self, conn: AsyncConnection) -> ExchangeRates:
        params = {"reporting": self.reporting_currency}
        revision = (await conn.execute(_REVISION, params)).scalar_one()
        if revision != self._revision:
            self._rates = await load(conn, self.reporting_currency)
            self._revision = revision
        return self._rates

    async def current_from(self, engine: AsyncEngine) -> ExchangeRates:
        async with engine.connect() as conn:
            return await self.current(conn)

    def cached(self) -> ExchangeRates:
        return self._rates
