"""One example per event type for the OpenAPI document (validated by a unit test)."""

from typing import Any

EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "purchase": {
        "event_id": "ord-7781-paid",
        "type": "purchase",
        "customer_id": "c-1042",
        "occurred_at": "2024-03-01T10:15:00+08:00",
        "source": "order-system",
        "data": {
            "order_id": "ord-7781",
            "amount": "249.00",
            "currency": "CNY",
            "cost": "150.00",
            "category": "shoes",
            "channel": "web",
        },
    },
    "contact": {
        "event_id": "call-55310",
        "type": "contact",
        "customer_id": "c-1042",
        "occurred_at": "2024-03-04T09:00:00+08:00",
        "source": "call-center",
        "data": {"channel": "phone", "direction": "inbound", "topic": "delivery", "nps": 9},
    },
    "complaint": {
        "event_id": "ticket-881-opened",
        "type": "complaint",
        "customer_id": "c-1042",
        "occurred_at": "2024-03-05T14:30:00+08:00",
        "source": "helpdesk",
        "data": {"ticket_id": "T-881", "severity": "high", "status": "opened"},
    },
    "profile": {
        "event_id": "crm-c-1042-v3",
        "type": "profile",
        "customer_id": "c-1042",
        "occurred_at": "2024-02-20T08:00:00+08:00",
        "source": "crm",
        "data": {
            "name": "Li Wei",
            "email": "li.wei@example.com",
            "birthday": "1990-06-15",
            "locale": "zh-CN",
            "timezone": "Asia/Shanghai",
            "consent": {"email": True, "sms": False},
        },
    },
    "refund": {
        "event_id": "ord-7781-refund-1",
        "type": "refund",
        "customer_id": "c-1042",
        "occurred_at": "2024-03-09T16:20:00+08:00",
        "source": "order-system",
        "data": {"order_id": "ord-7781", "amount": "49.00", "currency": "CNY", "reason": "return"},
    },
}


def openapi_examples() -> dict[str, dict[str, Any]]:
    return {t: {"summary": f"A {t} event", "value": v} for t, v in EVENT_EXAMPLES.items()}


def openapi_batch_example() -> dict[str, dict[str, Any]]:
    return {
        "mixed": {
            "summary": "One event of each type",
            "value": {"events": [*EVENT_EXAMPLES.values()]},
        }
    }
