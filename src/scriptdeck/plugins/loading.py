"""Loading many plugin sources: reuse the cache, and read the rest on both cores.

Reading a plugin is pure CPU (JSON, `ast`), so on a machine with several cores a large
cold discovery is split with a forked child: it reads every other source and sends the
plugins back pickled. Forking is only done from a single-threaded process (a fork while
other threads hold locks can deadlock the child), where `os.fork` exists, and for enough
sources to repay it; anything that goes wrong in the child is read again in this process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scriptdeck.plugins.cache import DiscoveryCache, Signature
from scriptdeck.plugins.manifest import load_manifest
from scriptdeck.plugins.model import Plugin
from scriptdeck.plugins.scriptfile import load_script_files

PARALLEL_MIN = 200  # below this a fork (~5 ms) and the pickling cost more than they save


@dataclass(frozen=True)
class Source:
    """A plugin folder or a candidate script file, and the search-path root it is in."""

    path: Path
    root: Path
    is_script: bool


def load_sources(sources: Sequence[Source], cache: DiscoveryCache | None = None) -> list[Plugin | None]:
    """One entry per source, in order: its Plugin, or None for a `.py` file that is no script."""
    out: list[Plugin | None] = [None] * len(sources)
    misses: list[int] = []
    known: dict[int, Signature | None] = {}
    for index, source in enumerate(sources):
        if cache is not None:
            plugin, current = cache.get(source.path, source.root)
            if plugin is not None:
                out[index] = plugin
                continue
            known[index] = current
        misses.append(index)
    loaded = _load_parallel([sources[i] for i in misses])
    for index, plugin in zip(misses, loaded, strict=True):
        out[index] = plugin
        if cache is not None and plugin is not None and plugin.cacheable:
            cache.put(plugin, known.get(index))
    return out


def _load_batch(sources: Sequence[Source]) -> list[Plugin | None]:
    results: list[Plugin | None] = [None] * len(sources)
    scripts_by_root: dict[Path, list[int]] = {}
    for index, source in enumerate(sources):
        if source.is_script:
            scripts_by_root.setdefault(source.root, []).append(index)
        else:
            results[index] = load_manifest(source.path, source.root)
    for root, indices in scripts_by_root.items():
        # One call per root: the import fallbacks of its files run in parallel.
        plugins = load_script_files([sources[i].path for i in indices], root)
        for index, plugin in zip(indices, plugins, strict=True):
            results[index] = plugin
    return results


def _can_fork(count: int) -> bool:
    return (
        count >= PARALLEL_MIN
        and hasattr(os, "fork")
        and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
    )


def _load_parallel(sources: Sequence[Source]) -> list[Plugin | None]:
    if not _can_fork(len(sources)):
        return _load_batch(sources)
    # Interleaved halves: plugin folders and script files cost differently and come in runs.
    mine, theirs = list(sources[0::2]), list(sources[1::2])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read its half, send it back, leave without any cleanup of the parent's
        status = 1
        try:
            os.close(read_fd)
            data = pickle.dumps(_load_batch(theirs), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    try:
        my_results = _load_batch(mine)
    finally:
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        _, wait_status = os.waitpid(pid, 0)
    their_results: list[Plugin | None] | None = None
    if os.waitstatus_to_exitcode(wait_status) == 0:
        with contextlib.suppress(Exception):
            their_results = pickle.loads(data)
    if their_results is None or len(their_results) != len(theirs):
        their_results = _load_batch(theirs)
    merged: list[Plugin | None] = []
    for index in range(len(sources)):
        merged.append(my_results[index // 2] if index % 2 == 0 else their_results[index // 2])
    return merged
