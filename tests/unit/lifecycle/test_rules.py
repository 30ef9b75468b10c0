from decimal import Decimal
from pathlib import Path

import pydantic
import pytest
import yaml

from services.lifecycle.domain.rules import LifecycleRules, RulesError, load_rules

DEFAULT_FILE = Path(__file__).parents[3] / "services" / "lifecycle" / "rules.default.yaml"


def test_the_shipped_default_file_states_every_default():
    assert load_rules(DEFAULT_FILE) == LifecycleRules()
    stated = yaml.safe_load(DEFAULT_FILE.read_text())
    every_field = {
        section: set(type(getattr(LifecycleRules(), section)).model_fields)
        for section in LifecycleRules.model_fields
        if section != "calendar"  # set from CLM_BUSINESS_TIMEZONE; a file may not state it
    }
    assert {section: set(values) for section, values in stated.items()} == every_field


def test_defaults_are_the_seeds_numbers():
    rules = LifecycleRules()
    assert rules.stages.maintenance_min_occasions == 3
    assert rules.stages.maintenance_window_days == 180
    assert rules.stages.churn_inactivity_days == 180
    assert rules.stages.early_abort_days == 90
    assert rules.at_risk.churn_risk_threshold == 0.7
    assert rules.tiers.a_min_spend == Decimal(5_000_000)
    assert rules.tiers.b_min_spend == Decimal(1_000_000)
    assert rules.upgrade.growth_ratio == 0.2
    assert rules.patterns.long_lasting_days == 730


def test_a_partial_yaml_file_keeps_the_other_defaults(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("stages:\n  churn_inactivity_days: 90\n")
    rules = load_rules(path)
    assert rules.stages.churn_inactivity_days == 90
    assert rules.stages.early_abort_days == 90
    assert rules.at_risk == LifecycleRules().at_risk


def test_toml_by_suffix(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[tiers]\na_min_spend = "2000000"\nb_min_spend = 500000\n')
    rules = load_rules(path)
    assert rules.tiers.a_min_spend == Decimal(2_000_000)


def test_an_empty_file_means_all_defaults(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text("")
    assert load_rules(path) == LifecycleRules()


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("at_risk:\n  floor_days: -1\n", "at_risk.floor_days"),
        ("at_risk:\n  churn_risk_threshold: 1.5\n", "at_risk.churn_risk_threshold"),
        ("stages:\n  churn_days: 30\n", "stages.churn_days"),
        ("stages:\n  maintenance_min_occasions: three\n", "stages.maintenance_min_occasions"),
        ("tiers:\n  a_min_spend: 10\n  b_min_spend: 20\n", "tiers"),
        ("patterns: 3\n", "patterns"),
    ],
)
def test_a_bad_rules_file_names_the_field(tmp_path, content, field):
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    with pytest.raises(RulesError) as error:
        load_rules(path)
    assert f"{field}:" in str(error.value)


def test_malformed_yaml_and_unknown_suffix_are_refused(tmp_path):
    broken = tmp_path / "rules.yaml"
    broken.write_text("stages: [unclosed\n")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(broken)
    listing = tmp_path / "rules.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(RulesError, match="mapping"):
        load_rules(listing)
    with pytest.raises(RulesError, match="must be"):
        load_rules(tmp_path / "rules.json")


def test_rules_are_frozen():
    rules = LifecycleRules()
    with pytest.raises(pydantic.ValidationError):
        rules.stages.early_abort_days = 1  # type: ignore[misc]
