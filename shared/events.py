"""The inbound customer events of CONTRACT.md, validated strictly (pydantic v2)."""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

import langcodes
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic_extra_types.currency_code import ISO4217

from shared.event_limits import (
    CUSTOMER_ID_GRAMMAR,
    CUSTOMER_ID_PATTERN,
    MAX_AMOUNT,
    bounded_attributes,
    customer_id_in_grammar,
    occurred_in_sane_range,
    printable,
)

Printable = AfterValidator(printable)
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128), Printable]
CustomerId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(customer_id_in_grammar),
    Field(
        description=CUSTOMER_ID_GRAMMAR,
        json_schema_extra={"pattern": CUSTOMER_ID_PATTERN},
    ),
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256), Printable]
Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_AMOUNT, max_digits=20, decimal_places=4, allow_inf_nan=False),
]

_TIMEZONES = frozenset(available_timezones())


def _valid_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError("must be an IANA time zone name, e.g. Asia/Shanghai")
    return value


def _valid_locale(value: str) -> str:
    if not langcodes.tag_is_valid(value):
        raise ValueError("must be a BCP 47 language tag, e.g. zh-CN")
    return value


TimeZoneName = Annotated[str, AfterValidator(_valid_timezone)]


def _timestamp_text(value: Any) -> Any:
    """The contract's timestamps are RFC 3339 text: a bare number would be read as epoch seconds."""
    if isinstance(value, int | float):
        raise ValueError(
            "must be an RFC 3339 timestamp with an offset, e.g. 2024-03-01T10:15:00+08:00"
        )
    return value


EventTime = Annotated[AwareDatetime, BeforeValidator(_timestamp_text)]
Locale = Annotated[str, StringConstraints(max_length=35), AfterValidator(_valid_locale)]


class EventType(StrEnum):
    PURCHASE = "purchase"
    CONTACT = "contact"
    COMPLAINT = "complaint"
    PROFILE = "profile"
    REFUND = "refund"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurchaseData(_Strict):
    order_id: ShortText
    amount: Money
    currency: ISO4217
    cost: Money | None = None
    category: ShortText | None = None
    channel: ShortText | None = None


class RefundData(_Strict):
    """A refund, return or cancellation of the customer's order `order_id`.

    Without `amount` the whole order is refunded (it no longer counts as a purchase);
    with it, that much (in `currency`) is taken off the order's amount.
    """

    order_id: ShortText
    amount: Money | None = None
    currency: ISO4217 | None = Field(default=None, validate_default=True)
    reason: ShortText | None = None

    @field_validator("currency")
    @classmethod
    def _amount_has_a_currency(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("amount") is not None:
            raise ValueError("currency is required with amount")
        return value


# "How likely are you to recommend us?" 0..10, asked on a call, a survey or a ticket.
NetPromoterScore = Annotated[int, Field(ge=0, le=10, description="likelihood to recommend, 0..10")]


class ContactChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    CHAT = "chat"
    VISIT = "visit"
    SOCIAL = "social"
    OTHER = "other"


class ContactData(_Strict):
    channel: ContactChannel
    direction: Literal["inbound", "outbound"]
    topic: ShortText | None = None
    outcome: ShortText | None = None
    nps: NetPromoterScore | None = None


class ComplaintData(_Strict):
    ticket_id: ShortText
    severity: Literal["low", "medium", "high", "critical"]
    status: Literal["opened", "resolved"] = "opened"
    category: ShortText | None = None
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None
    nps: NetPromoterScore | None = None


class Consent(_Strict):
    email: bool | None = None
    sms: bool | None = None


class ProfileData(_Strict):
    name: ShortText | None = None
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"), Printable]
        | None
    ) = None
    phone: (
        Annotated[str, StringConstraints(max_length=32, pattern=r"^\+?[0-9 ()\-]{3,32}$")] | None
    ) = None
    birthday: date | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    consent: Consent | None = None
    acquisition_cost: Money | None = None
    attributes: Annotated[dict[str, Any] | None, BeforeValidator(bounded_attributes)] = None

    @field_validator("birthday", mode="before")
    @classmethod
    def _birthday_is_a_plain_date(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) != 10:
            raise ValueError("must be a date YYYY-MM-DD")
        return value


class _EventBase(_Strict):
    event_id: EventId
    customer_id: CustomerId
    occurred_at: EventTime
    source: ShortText | None = None

    @field_validator("occurred_at")
    @classmethod
    def _occurred_in_sane_range(cls, value: Any, info: ValidationInfo) -> Any:
        return occurred_in_sane_range(value, info)


class PurchaseEvent(_EventBase):
    type: Literal["purchase"]
    data: PurchaseData


class ContactEvent(_EventBase):
    type: Literal["contact"]
    data: ContactData


class ComplaintEvent(_EventBase):
    type: Literal["complaint"]
    data: ComplaintData


class ProfileEvent(_EventBase):
    type: Literal["profile"]
    data: ProfileData


class RefundEvent(_EventBase):
    type: Literal["refund"]
    data: RefundData


CustomerEvent = Annotated[
    PurchaseEvent | ContactEvent | ComplaintEvent | ProfileEvent | RefundEvent,
    Field(discriminator="type"),
]
customer_event_adapter: TypeAdapter[CustomerEvent] = TypeAdapter(CustomerEvent)
