"""The discovery cache reuses unchanged plugins and notices every change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scriptdeck.plugins import cache as cache_module
from scriptdeck.plugins.cache import DiscoveryCache, folder_signature, signature
from scriptdeck.plugins.loading import Source, load_sources
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


def test_duplicate_key_warnings_survive_the_cache(tmp_path: Path) -> None:
    make(tmp_path / "r")
    manifest = tmp_path / "r" / "Tool" / "plugin.json"
    bump(manifest, manifest.read_text().replace('"engine": "python"', '"engine": "python", "engine": "python"'))
    cache_file = tmp_path / "cache.pickle"
    first = discover(tmp_path / "r", cache_file).plugins
    assert DiscoveryCache(cache_file).get(tmp_path / "r" / "Tool", tmp_path / "r")[0] is not None
    second = discover(tmp_path / "r", cache_file).plugins
    warning = (
        f'{manifest}: engine: duplicate key "engine": the last value "python" is used, the earlier "python" is '
        "ignored (a key must appear only once in an object)"
    )
    assert [p.warnings for p in first] == [p.warnings for p in second] == [[warning], []]


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


def walk_signature(path: Path) -> tuple[tuple[str, int, int], ...]:
    """The signature as it was first defined: a sorted os.walk with os.stat per file."""
    entries = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in {"__pycache__", ".git"})
        for name in sorted(files):
            full = os.path.join(folder, name)
            st = os.stat(full)
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def test_folder_signature_matches_a_sorted_walk(tmp_path: Path) -> None:
    folder = tmp_path / "P"
    for rel in ("b.py", "a.py", "plugin.json", "sub/x.txt", "sub/deeper/y.txt", "z/w.py", "__pycache__/c.pyc"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    (folder / "link").symlink_to(folder / "sub")  # listed by os.walk but never entered
    assert signature(folder) == folder_signature(str(folder)) == walk_signature(folder)
    assert all("__pycache__" not in name for name, _, _ in folder_signature(str(folder)) or ())


def test_a_path_the_cache_never_saw_costs_no_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path / "r")
    cache = DiscoveryCache(tmp_path / "cache.pickle")

    def no_stat(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cold miss must not compute its signature in the cache")

    monkeypatch.setattr(cache_module, "signature", no_stat)
    assert cache.lookup(tmp_path / "r" / "Tool", tmp_path / "r", False) == (None, None)


def test_a_cold_miss_gets_its_signature_from_the_loader(tmp_path: Path) -> None:
    make(tmp_path / "r")
    root = tmp_path / "r"
    cache = DiscoveryCache(tmp_path / "cache.pickle")
    sources = [Source(root / "Tool", root, False), Source(root / "square.py", root, True)]
    plugins = load_sources(sources, cache)
    for source, plugin in zip(sources, plugins, strict=True):
        hit, current = cache.get(source.path, root)
        assert hit is not None and plugin is not None and hit.to_json() == plugin.to_json()
        assert current == signature(source.path)
