"""The discovery cache reuses unchanged plugins and notices every change."""

from __future__ import annotations

import json
import os
from pathlib import Path

from scriptdeck.plugins.cache import DiscoveryCache
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.searchpath import Root

SCRIPT = """
class Obj:
    def __init__(self, g, logger, settings):
        pass
    def run(self):
        return True, {}

__script_obj__ = Obj
__script_id__ = "square"
__script_title__ = "Square"
__script_settings__ = {"size": 20.0}
"""


def make(root: Path) -> None:
    folder = root / "Tool"
    folder.mkdir(parents=True)
    (folder / "act.py").write_text("def main(window, document, settings):\n    pass\n")
    manifest = {"engine": "python", "services": [{"type": "action", "label": "Go", "script": {"module": "act", "function": "main"}}]}
    (folder / "plugin.json").write_text(json.dumps(manifest))
    (root / "square.py").write_text(SCRIPT)


def discover(root: Path, cache_file: Path) -> Registry:
    return Registry.discover([Root(root, "plugin-path")], cache=DiscoveryCache(cache_file))


def bump(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # coarse file-system clocks


def test_second_discovery_is_served_from_the_cache_and_equal(tmp_path: Path) -> None:
    make(tmp_path / "r")
    cache_file = tmp_path / "cache.pickle"
    first = discover(tmp_path / "r", cache_file)
    assert cache_file.exists()
    cache = DiscoveryCache(cache_file)
    assert cache.get(tmp_path / "r" / "Tool", tmp_path / "r")[0] is not None
    second = discover(tmp_path / "r", cache_file)
    assert first.to_json() == second.to_json()


def test_a_changed_module_is_read_again(tmp_path: Path) -> None:
    make(tmp_path / "r")
    cache_file = tmp_path / "cache.pickle"
    discover(tmp_path / "r", cache_file)
    bump(tmp_path / "r" / "Tool" / "act.py", "def other(window, document, settings):\n    pass\n")
    plugin = discover(tmp_path / "r", cache_file).plugins[0]
    assert plugin.status == "error" and any("main" in e for e in plugin.errors + plugin.warnings)


def test_a_changed_script_is_read_again(tmp_path: Path) -> None:
    make(tmp_path / "r")
    cache_file = tmp_path / "cache.pickle"
    discover(tmp_path / "r", cache_file)
    bump(tmp_path / "r" / "square.py", SCRIPT.replace('"Square"', '"Bigger square"'))
    reg = discover(tmp_path / "r", cache_file)
    assert reg.find_service("square")[1].label == "Bigger square"


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    make(tmp_path / "r")
    cache_file = tmp_path / "cache.pickle"
    cache_file.write_bytes(b"not a pickle")
    assert len(discover(tmp_path / "r", cache_file).plugins) == 2
