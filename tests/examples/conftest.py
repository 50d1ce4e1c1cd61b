"""Fixtures for the PostProcess tests: its modules imported as a worker imports them, a window that records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scriptdeck.document.gcode import GcodeDocument
from scriptdeck.plugins.manifest import load_manifest
from scriptdeck.runtime.isolation import load_module

POSTPROCESS = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "PostProcess"
SLICED = Path(__file__).resolve().parents[1] / "document" / "fixtures"  # Cura, PrusaSlicer, Simplify3D jobs


class Window:
    """The `window` an action is given; `said` holds (level, message) for every call."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda message, title="": self.said.append((level, message))


@pytest.fixture
def window() -> Window:
    return Window()


@pytest.fixture(scope="session")
def postprocess() -> Callable[[str], ModuleType]:
    """`postprocess("pause_at_height")`: the module through the worker's loader (so `from .x import` works)."""
    return lambda name: load_module("PostProcess", POSTPROCESS, name, POSTPROCESS / f"{name}.py")


@pytest.fixture(scope="session")
def service_defaults() -> Callable[[int], dict[str, Any]]:
    """The default settings of the manifest's service number `index`, as the host would pass them."""
    plugin = load_manifest(POSTPROCESS, POSTPROCESS.parent)
    assert plugin.errors == [] and plugin.warnings == []
    return lambda index: plugin.services[index].settings_for(None).defaults()


@pytest.fixture(scope="session")
def sliced() -> Callable[[str], GcodeDocument]:
    """`sliced("cura")`: a slicer's job from tests/document/fixtures (also prusaslicer, simplify3d_crlf_nofinal)."""
    return lambda name: GcodeDocument.from_file(SLICED / f"{name}.gcode")
