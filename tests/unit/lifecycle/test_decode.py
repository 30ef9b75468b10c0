"""The consumer's decoded events give the domain the same facts as their JSON form would."""

import orjson
import pytest

from services.lifecycle.domain import CustomerFacts, DomainEvent, apply
from services.lifecycle.service_layer.processing import domain_event
from shared.events import CustomerEvent, customer_event_adapter
from tests.support.factories import complaint, contact, profile, purchase

PAYLOADS = [
    purchase("c-1", "2024-03-01T10:15:00+08:00", amount="12.50"),
    contact("c-1", "2024-03-02T10:15:00Z"),
    complaint("c-1", "2024-03-03T10:15:00Z"),
    profile("c-1", "2024-03-04T10:15:00Z", name="张三", locale="zh-CN"),
]


def _from_json_form(event: CustomerEvent) -> DomainEvent:
    data = event.data.model_dump(mode="json", exclude_none=True)
    return DomainEvent(event.event_id, event.type, event.customer_id, event.occurred_at, data)  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p["type"])
def test_decoded_event_gives_the_facts_its_json_form_gives(payload: dict[str, object]) -> None:
    event = customer_event_adapter.validate_python(payload)
    direct = apply(CustomerFacts("c-1"), domain_event(event))
    via_json = apply(CustomerFacts("c-1"), _from_json_form(event))
    assert orjson.dumps(direct.to_json()) == orjson.dumps(via_json.to_json())
    assert CustomerFacts.from_json(orjson.loads(orjson.dumps(direct.to_json()))) == via_json
