"""PUT/GET /v1/exchange-rates: the operator's dated rates to the reporting currency."""

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic_extra_types.currency_code import ISO4217

from shared import exchange_rates
from shared.auth import Scope, require
from shared.money import ExchangeRate
from shared.problems import validation_problem

router = APIRouter(prefix="/v1/exchange-rates", tags=["exchange rates"])
Admin = Annotated[frozenset[str], Depends(require(Scope.ADMIN))]


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: ISO4217
    date: date
    rate: Annotated[Decimal, Field(gt=0, max_digits=24, decimal_places=10, allow_inf_nan=False)]
    """Units of the reporting currency one unit of `currency` buys, from `date` on."""


class RatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: Annotated[list[RateIn], Field(min_length=1, max_length=10_000)]
    reporting_currency: ISO4217 | None = Field(
        default=None, description="When given, must be the deployment's reporting currency."
    )


class RateOut(BaseModel):
    currency: str
    date: date
    rate: str


class RatesOut(BaseModel):
    reporting_currency: str
    rates: list[RateOut]


@router.put("", response_model=RatesOut, summary="Load (add or correct) dated exchange rates")
async def put_rates(body: RatesIn, request: Request, _: Admin) -> RatesOut:
    reporting = request.app.state.settings.reporting_currency
    if body.reporting_currency not in (None, reporting):
        message = (
            f"these rates are to {body.reporting_currency}; this deployment reports in {reporting}"
        )
        errors = [{"field": "reporting_currency", "message": message, "code": "other_currency"}]
        raise validation_problem(errors, "The rates are to another reporting currency.")
    for index, rate in enumerate(body.rates):
        if rate.currency == reporting and rate.rate != 1:
            errors = [
                {
                    "field": f"rates.{index}.currency",
                    "message": f"{reporting} is the reporting currency: its rate is 1",
                    "code": "reporting_currency",
                }
            ]
            raise validation_problem(errors, "A rate of the reporting currency must be 1.")
    rates = [ExchangeRate(r.currency, r.date, r.rate) for r in body.rates]
    async with request.app.state.engine.begin() as conn:
        await exchange_rates.store(conn, reporting, rates)
        stored = await exchange_rates.load(conn, reporting)
    return _listed(reporting, stored.listed(), {r.currency for r in rates})


@router.get("", response_model=RatesOut, summary="The loaded exchange rates")
async def get_rates(
    request: Request, _: Admin, currency: Annotated[str | None, Query(max_length=3)] = None
) -> RatesOut:
    reporting = request.app.state.settings.reporting_currency
    async with request.app.state.engine.connect() as conn:
        stored = await exchange_rates.load(conn, reporting)
    return _listed(reporting, stored.listed(), {currency} if currency else None)


def _listed(reporting: str, rates: list[ExchangeRate], only: set[str] | None) -> RatesOut:
    return RatesOut(
        reporting_currency=reporting,
        rates=[
            RateOut(currency=r.currency, date=r.day, rate=format(r.rate.normalize(), "f"))
            for r in rates
            if only is None or r.currency in only
        ],
    )
