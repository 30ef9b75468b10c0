"""docs/asyncapi.yaml describes every topic, and every producer's payload fits its schema."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from deploy.asyncapi import (
    LifecycleChangeData,
    NotificationData,
    ScoreUpdateData,
    SegmentMembershipData,
    render,
)
from services.audiences.adapters.memberships_topic import membership_record
from services.audiences.domain.membership import Reason, changes_of
from services.lifecycle.domain import (
    CustomerFacts,
    DomainEvent,
    apply_all,
    changes_between,
    derive,
    load_rules,
)
from services.lifecycle.settings import DEFAULT_RULES
from services.notify.adapters.notifications import decision_record
from services.scoring.service_layer.publishing import score_messages
from shared.topics import platform_topics

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_the_committed_document_is_what_the_code_generates() -> None:
    committed = (ROOT / "docs" / "asyncapi.yaml").read_text()
    assert committed == render(), "run: python -m deploy.asyncapi > docs/asyncapi.yaml"


def test_every_platform_topic_is_a_channel() -> None:
    text = render()
    for spec in platform_topics():
        assert f"address: {spec.name}\n" in text


def test_lifecycle_changes_fit_their_schema() -> None:
    events = [
        DomainEvent(f"e{i}", "purchase", "c1", T0.replace(month=m), {"amount": "10"})  # type: ignore[arg-type]
        for i, m in enumerate((1, 2, 3))
    ]
    state = derive(
        apply_all(CustomerFacts("c1"), events), load_rules(DEFAULT_RULES), T0.replace(year=2026)
    )
    changes = changes_between((), state.history)
    corrections = changes_between(state.history, ())
    assert changes and corrections
    for change in changes + corrections:
        LifecycleChangeData.model_validate(change.data())


def test_score_updates_fit_their_schema() -> None:
    [(_, value, _)] = score_messages(
        customer_ids=["c1"], model_id="m1", causes=["e1"], time=T0,
        p_alive=np.array([0.5]), churn_risk=np.array([0.2]), expected_purchases=np.array([1.0]),
        expected_avg_spend=np.array([10.0]), clv=np.array([99.0]), segment=np.array(["loyal"]),
        health_score=np.array([70.0]), horizon=13.0, time_unit="week",
    )  # fmt: skip
    ScoreUpdateData.model_validate(orjson.loads(value))


def test_notification_decisions_fit_their_schema() -> None:
    message = {
        "id": "m1", "customer_id": "c1", "playbook": "welcome", "step": "welcome",
        "channel": "email", "occurrence_id": "o1", "trigger_kind": "stage_entered",
        "due_at": T0, "attempts": 0, "coupon": None,
    }  # fmt: skip
    record = decision_record(message, "sent", "delivered", T0)
    NotificationData.model_validate(orjson.loads(record.value))


def test_segment_memberships_fit_their_schema() -> None:
    for change in changes_of("vip", {"c1": T0}, {"c2": T0}, Reason.TIME_PASSED, T0):
        SegmentMembershipData.model_validate(orjson.loads(membership_record(change).value))
