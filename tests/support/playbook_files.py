"""Playbooks files for tests that start notify with the default playbooks changed."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.notify.settings import DEFAULT_PLAYBOOKS


def default_playbooks() -> dict[str, Any]:
    """The default playbooks file as data, for a test to change."""
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_PLAYBOOKS.read_text())
    return raw


def write_playbooks(
    raw: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, name: str
) -> Path:
    """Writes `raw` as a playbooks file in a new temporary folder named after `name`."""
    path = tmp_path_factory.mktemp(name) / "playbooks.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path
