"""Precedence, shadowing, service lookup and the rule that one broken plugin never stops the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptdeck.errors import UnknownServiceError
from scriptdeck.plugins.model import PluginStatus
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.searchpath import Root


def manifest(root: Path, plugin_id: str, version: int | None = None, services: list | None = None) -> Path:
    folder = root / plugin_id
    folder.mkdir(parents=True)
    (folder / "act.py").write_text("def main(window, document, settings):\n    pass\n")
    data: dict = {
        "engine": "python",
        "services": services
        if services is not None
        else [{"type": "action", "label": "Do it", "script": {"module": "act", "function": "main"}}],
    }
    if version is not None:
        data["version"] = version
    (folder / "plugin.json").write_text(json.dumps(data))
    return folder


SCRIPT = """
class Obj:
    def __init__(self, g, logger, settings):
        pass
    def run(self):
        return True, {{}}

__script_obj__ = Obj
__script_id__ = {sid!r}
__script_title__ = "Title"
"""


def script(root: Path, name: str, sid: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text(SCRIPT.format(sid=sid))
    return path


def discover(*roots: Path) -> Registry:
    return Registry.discover([Root(r, "plugin-path") for r in roots])


def test_higher_version_wins_and_loser_is_shadowed(tmp_path: Path) -> None:
    first = manifest(tmp_path / "r1", "Tool", version=1)
    second = manifest(tmp_path / "r2", "Tool", version=2)
    reg = discover(tmp_path / "r1", tmp_path / "r2")
    by_path = {p.path: p for p in reg.plugins}
    assert by_path[second].status == PluginStatus.OK
    assert by_path[first].status == PluginStatus.SHADOWED
    assert by_path[first].shadowed_by == str(second)
    assert reg.find_service("Tool")[0].path == second


def test_version_tie_earlier_root_wins(tmp_path: Path) -> None:
    first = manifest(tmp_path / "r1", "Tool")
    second = manifest(tmp_path / "r2", "Tool")
    reg = discover(tmp_path / "r1", tmp_path / "r2")
    assert reg.plugin("Tool").path == first
    assert [p.status for p in reg.plugins if p.path == second] == [PluginStatus.SHADOWED]


def test_duplicate_script_id_first_wins_other_is_an_error_naming_both(tmp_path: Path) -> None:
    a = script(tmp_path / "r1", "a.py", "purge")
    b = script(tmp_path / "r2", "b.py", "purge")
    reg = discover(tmp_path / "r1", tmp_path / "r2")
    loser = next(p for p in reg.plugins if p.path == b)
    assert loser.status == PluginStatus.ERROR
    assert loser.errors == [
        f"{b}: __script_id__: 'purge' is already used by {a}; script ids must be globally unique"
    ]
    assert reg.find_service("purge")[0].path == a


def test_other_py_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "helpers.py").write_text("X = 1\n")
    assert discover(tmp_path / "r").plugins == []


def test_broken_plugin_never_stops_the_others(tmp_path: Path) -> None:
    manifest(tmp_path / "r", "Good")
    bad = tmp_path / "r" / "Bad"
    bad.mkdir()
    (bad / "plugin.json").write_text("{not json")
    reg = discover(tmp_path / "r")
    statuses = {p.id: p.status for p in reg.plugins}
    assert statuses == {"Bad": PluginStatus.ERROR, "Good": PluginStatus.OK}
    with pytest.raises(UnknownServiceError, match="plugin 'Bad' has"):
        reg.find_service("Bad")


def test_service_lookup_by_id_and_by_single_service_plugin(tmp_path: Path) -> None:
    manifest(tmp_path / "r", "Tool")
    reg = discover(tmp_path / "r")
    assert reg.find_service("Tool/do-it")[1].id == "Tool/do-it"
    assert reg.find_service("Tool")[1].id == "Tool/do-it"
    with pytest.raises(UnknownServiceError, match=r"no service 'Nope' \(available: Tool/do-it\)"):
        reg.find_service("Nope")


def test_several_services_need_a_full_id(tmp_path: Path) -> None:
    act = {"type": "action", "label": "Do it", "script": {"module": "act", "function": "main"}}
    manifest(tmp_path / "r", "Tool", services=[act, dict(act)])
    reg = discover(tmp_path / "r")
    assert [s.id for s in reg.services()] == ["Tool/do-it", "Tool/do-it-2"]
    with pytest.raises(UnknownServiceError, match="several services; name one of: Tool/do-it, Tool/do-it-2"):
        reg.find_service("Tool")


def test_disabled_plugins_are_listed_but_not_runnable(tmp_path: Path) -> None:
    manifest(tmp_path / "r", "Tool")
    reg = Registry.discover([Root(tmp_path / "r", "plugin-path")], disabled={"Tool"})
    assert reg.plugins[0].status == PluginStatus.DISABLED
    assert reg.services() == []
    with pytest.raises(UnknownServiceError, match="plugin 'Tool' is disabled"):
        reg.find_service("Tool")
