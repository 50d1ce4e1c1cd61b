"""Fixtures for the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh home and data dir under tmp_path, and no plugin path from the environment."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCRIPTDECK_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("SCRIPTDECK_PLUGIN_PATH", raising=False)
