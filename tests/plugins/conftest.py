"""Fixtures for plugin tests: write plugin folders into tmp_path and load them.

Shared by several test modules; add new fixtures by appending below, never by changing these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.plugins.manifest import load_manifest
from scriptdeck.plugins.model import Plugin

# Modules every test plugin folder gets unless the test overrides them.
DEFAULT_MODULES: dict[str, str] = {
    "hello.py": "def main(window, document, settings):\n    window.warning(settings['greeting'])\n",
    "fmt.py": (
        "def read(window, document, file, filename, import_export, settings):\n    pass\n\n\n"
        "def write(window, document, file, filename, import_export, settings):\n    pass\n"
    ),
    "auto.py": (
        "class Purge:\n"
        "    def __init__(self, g, logger, settings):\n        self.g = g\n\n"
        "    def run(self):\n        return True, {}\n\n\n"
        "def on_connect(settings):\n    return ['M117 hi']\n"
    ),
}


def action(**overrides: Any) -> dict[str, Any]:
    """A valid action service; keyword arguments replace or add keys."""
    service: dict[str, Any] = {
        "type": "action",
        "label": "Say hello",
        "script": {"module": "hello", "function": "main"},
    }
    service.update(overrides)
    return service


def manifest(*services: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A valid plugin.json (one action service unless services are given)."""
    data: dict[str, Any] = {"engine": "python", "services": list(services) or [action()]}
    data.update(overrides)
    return data


@dataclass
class PluginFolders:
    """Writes plugin folders under `root` and loads them with `load_manifest`."""

    root: Path

    # The builders, reachable from tests through the fixture (conftest is not importable
    # under --import-mode=importlib).
    action = staticmethod(action)
    manifest = staticmethod(manifest)

    def write(
        self,
        content: Mapping[str, Any] | str | bytes | None,
        files: Mapping[str, str | bytes] | None = None,
        plugin_id: str = "Hello",
    ) -> Path:
        folder = self.root / plugin_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in {**DEFAULT_MODULES, **(files or {})}.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, bytes):
                path.write_bytes(text)
            else:
                path.write_text(text, encoding="utf-8")
        target = folder / "plugin.json"
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        elif content is not None:
            target.write_text(json.dumps(content, indent=2), encoding="utf-8")
        return folder

    def load(
        self,
        content: Mapping[str, Any] | str | bytes | None,
        files: Mapping[str, str | bytes] | None = None,
        plugin_id: str = "Hello",
    ) -> Plugin:
        return load_manifest(self.write(content, files, plugin_id), self.root)

    def file(self, plugin_id: str = "Hello") -> str:
        """The manifest path as messages show it."""
        return str(self.root / plugin_id / "plugin.json")


@pytest.fixture
def folders(tmp_path: Path) -> PluginFolders:
    root = tmp_path / "plugins"
    root.mkdir()
    return PluginFolders(root)
