"""Loading many sources on two cores gives exactly what loading them one by one gives."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from scriptdeck.plugins import loading
from scriptdeck.plugins.loading import Source, load_sources, source_signature

SCRIPT = """
class Obj:
    def __init__(self, g, logger, settings):
        pass
    def run(self):
        return True, {{}}

__script_obj__ = Obj
__script_id__ = "s{i}"
__script_title__ = "Script {i}"
__script_settings__ = {{"n": {i}}}
"""


def make_sources(root: Path, count: int) -> list[Source]:
    root.mkdir()
    sources: list[Source] = []
    for i in range(count):
        if i % 3 == 0:
            path = root / f"s{i}.py"
            path.write_text(SCRIPT.format(i=i))
            sources.append(Source(path, root, True))
        elif i % 3 == 1:
            folder = root / f"P{i}"
            folder.mkdir()
            (folder / "m.py").write_text("def main(window, document, settings):\n    pass\n")
            services = [{"type": "action", "label": f"Act {i}", "script": {"module": "m", "function": "main"}}]
            (folder / "plugin.json").write_text(json.dumps({"engine": "python", "services": services}))
            sources.append(Source(folder, root, False))
        else:
            path = root / f"helper{i}.py"  # not a script: None in its place
            path.write_text("X = 1\n")
            sources.append(Source(path, root, True))
    return sources


def as_json(plugins: list) -> list:
    return [p.to_json() if p is not None else None for p in plugins]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="parallel loading needs os.fork")
def test_parallel_load_equals_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = make_sources(tmp_path / "r", 30)
    monkeypatch.setattr(loading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(loading.threading, "active_count", lambda: 1)
    parallel = load_sources(sources)
    monkeypatch.setattr(loading, "PARALLEL_MIN", 10**9)
    sequential = load_sources(sources)
    assert as_json(parallel) == as_json(sequential)
    assert [p is None for p in parallel] == [i % 3 == 2 for i in range(30)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="parallel loading needs os.fork")
def test_duplicate_key_warnings_come_back_from_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = make_sources(tmp_path / "r", 30)
    for source in sources[1::3]:
        manifest = source.path / "plugin.json"
        manifest.write_text(manifest.read_text().replace('"engine": "python"', '"engine": "python", "engine": "python"'))
    monkeypatch.setattr(loading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(loading.threading, "active_count", lambda: 1)
    _, theirs = loading.split(sources)
    assert {i for i in theirs if not sources[i].is_script}  # some manifests really are read by the child
    plugins = load_sources(sources)
    for source, plugin in zip(sources[1::3], plugins[1::3], strict=True):
        assert plugin is not None and plugin.warnings == [
            f'{source.path / "plugin.json"}: engine: duplicate key "engine": the last value "python" is used, '
            'the earlier "python" is ignored (a key must appear only once in an object)'
        ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="parallel loading needs os.fork")
def test_a_failing_child_is_made_up_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = make_sources(tmp_path / "r", 12)
    monkeypatch.setattr(loading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(loading.threading, "active_count", lambda: 1)
    parent = os.getpid()
    real_dumps = loading.pickle.dumps

    def broken_in_child(*args: object, **kwargs: object) -> bytes:
        if os.getpid() != parent:
            raise RuntimeError("child cannot pickle")
        return real_dumps(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loading.pickle, "dumps", broken_in_child)
    result = load_sources(sources)
    assert sum(p is not None for p in result) == 8


def test_no_fork_while_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading.threading, "active_count", lambda: 3)
    assert not loading._can_fork(10_000)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="parallel loading needs os.fork")
def test_cache_bytes_from_the_child_equal_the_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = make_sources(tmp_path / "r", 30)
    monkeypatch.setattr(loading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(loading.threading, "active_count", lambda: 1)
    parent = os.getpid()
    _, theirs = loading.split(sources)
    assert theirs  # the child has work
    results = loading._load_parallel(sources, caching=True)
    for index, (plugin, sig, data) in enumerate(results):
        if plugin is None:
            assert data is None
            continue
        assert data is not None and sig == source_signature(sources[index])
        assert pickle.loads(data).to_json() == plugin.to_json()
    assert os.getpid() == parent


def test_split_follows_the_cost_of_each_source(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "r", 300)
    mine, theirs = loading.split(sources)
    assert sorted(mine + theirs) == list(range(300))

    def cost(indices: list[int]) -> int:
        return sum(loading.SCRIPT_COST if sources[i].is_script else loading.FOLDER_COST for i in indices)

    share = cost(theirs) / (cost(mine) + cost(theirs))
    assert abs(share - loading.CHILD_SHARE) < 0.02


@pytest.mark.skipif(not hasattr(os, "fork"), reason="parallel loading needs os.fork")
def test_the_child_streams_its_share_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = make_sources(tmp_path / "r", 30)
    monkeypatch.setattr(loading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(loading, "CHUNK", 2)  # many messages, in an order unlike the sources'
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(loading.threading, "active_count", lambda: 1)
    pieces = loading._chunks(sources)
    assert all(sources[i].is_script for i in pieces[0])  # one piece: fallbacks still run together
    assert sorted(i for piece in pieces for i in piece) == list(range(30))
    parallel = load_sources(sources)
    monkeypatch.setattr(loading, "PARALLEL_MIN", 10**9)
    assert as_json(parallel) == as_json(load_sources(sources))


def test_loading_restores_the_cyclic_collector(tmp_path: Path) -> None:
    import gc

    sources = make_sources(tmp_path / "r", 6)
    assert gc.isenabled()
    load_sources(sources)
    assert gc.isenabled()
    gc.disable()
    try:
        load_sources(sources)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
