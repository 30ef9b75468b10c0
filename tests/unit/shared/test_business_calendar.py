"""CLM_BUSINESS_TIMEZONE: one IANA zone for calendar days and quarters in every service."""

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.lifecycle.settings import LifecycleSettings
from services.scoring.settings import ScoringSettings
from shared.business_calendar import BusinessCalendar

SHANGHAI = BusinessCalendar.named("Asia/Shanghai")


def test_days_and_quarters_follow_the_zone():
    at = datetime(2024, 3, 31, 17, tzinfo=UTC)  # 1 April 01:00 in Shanghai
    assert SHANGHAI.day(at) == date(2024, 4, 1)
    assert SHANGHAI.quarter(at) == 2024 * 4 + 1
    assert BusinessCalendar().quarter(at) == 2024 * 4
    assert SHANGHAI.day_start(date(2024, 4, 1)) == datetime(2024, 3, 31, 16, tzinfo=UTC)
    assert SHANGHAI.quarter_start(2024 * 4 + 1) == datetime(2024, 3, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize("settings", [LifecycleSettings, ScoringSettings])
def test_every_service_reads_the_one_setting(monkeypatch, settings):
    monkeypatch.setenv("CLM_BUSINESS_TIMEZONE", "Asia/Shanghai")
    assert settings().business_calendar == SHANGHAI


@pytest.mark.parametrize("settings", [LifecycleSettings, ScoringSettings])
def test_an_invalid_zone_stops_the_service_with_a_clear_message(monkeypatch, settings):
    monkeypatch.setenv("CLM_BUSINESS_TIMEZONE", "Mars/Base")
    with pytest.raises(
        ValidationError, match=r"CLM_BUSINESS_TIMEZONE[\s\S]*'Mars/Base' is not an IANA"
    ):
        settings()
