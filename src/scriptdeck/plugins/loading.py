"""Loading many plugin sources: reuse the cache, and read the rest on both cores.

Reading a plugin is pure CPU (JSON, `ast`), so on a machine with several cores a large
cold discovery is split with a forked child: it reads its share of the sources and sends
the plugins back pickled, piece by piece, so that this process unpickles most of them while
the child is still reading. Forking is only done from a single-threaded process (a fork while
other threads hold locks can deadlock the child), where `os.fork` exists, and for enough
sources to repay it; anything that goes wrong in the child is read again in this process.

When a cache is used, whoever reads a source also takes its stat signature (before reading
it, so a change made meanwhile invalidates the entry) and pickles the plugin for the cache:
the child's pickles are stored as they are and unpickled once here, so a cold discovery
does neither a stat walk nor a pickling pass of its own after the split.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no fork either
    fcntl = None  # type: ignore[assignment]

from scriptdeck.plugins.cache import DiscoveryCache, Signature, folder_signature, script_signature
from scriptdeck.plugins.manifest import load_manifest, shared_resolution
from scriptdeck.plugins.model import Plugin
from scriptdeck.plugins.scriptfile import load_script_files

PARALLEL_MIN = 200  # below this a fork (~5 ms) and the pickling cost more than they save
# Relative cost of reading a source (measured: a script file's `ast` pass costs about 1.5x a
# plugin folder's JSON + module check), used to split the work evenly.
SCRIPT_COST, FOLDER_COST = 3, 2
# The child's share of the work. Half: the child pays for the fork (copy-on-write faults) and
# for sending its plugins about as much as this process pays for unpickling them (measured).
CHILD_SHARE = 0.5


@dataclass(frozen=True)
class Source:
    """A plugin folder or a candidate script file, and the search-path root it is in."""

    path: Path
    root: Path
    is_script: bool


# What reading one source gives: the plugin (None: a `.py` file that is no script), its
# signature taken before reading it (None when not caching or not stat-able), and the plugin
# pickled for the cache (None when not caching or not cacheable).
Loaded = tuple[Plugin | None, Signature | None, bytes | None]


def load_sources(sources: Sequence[Source], cache: DiscoveryCache | None = None) -> list[Plugin | None]:
    """One entry per source, in order: its Plugin, or None for a `.py` file that is no script."""
    with _no_cyclic_gc():
        return _load_sources(sources, cache)


def _load_sources(sources: Sequence[Source], cache: DiscoveryCache | None) -> list[Plugin | None]:
    out: list[Plugin | None] = [None] * len(sources)
    misses: list[int] = []
    known: dict[int, Signature | None] = {}
    for index, source in enumerate(sources):
        if cache is not None:
            # No stat call for a path the cache has never seen: the loader takes its signature.
            plugin, current = cache.lookup(source.path, source.root, source.is_script)
            if plugin is not None:
                out[index] = plugin
                continue
            if current is not None:
                known[index] = current
        misses.append(index)
    caching = cache is not None
    loaded = _load_parallel([sources[i] for i in misses], caching, [known.get(i) for i in misses])
    for index, (plugin, current, data) in zip(misses, loaded, strict=True):
        out[index] = plugin
        if cache is not None and plugin is not None and data is not None:
            cache.put_bytes(str(sources[index].path), current, data)
    return out


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Reading (or unpickling) plugins allocates many acyclic objects (AST nodes, dataclasses):
    with the cyclic collector on, their count triggers collections that find nothing to free
    and cost several percent of a discovery. Reference counting still frees them as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def source_signature(source: Source) -> Signature | None:
    path = str(source.path)
    return script_signature(path) if source.is_script else folder_signature(path)


def _load_batch(
    sources: Sequence[Source], caching: bool = False, known: Sequence[Signature | None] | None = None
) -> list[Loaded]:
    signatures: list[Signature | None] = [None] * len(sources)
    if caching:
        # Taken before any file is read: a file changed while it is read gets a new signature.
        for index, source in enumerate(sources):
            sig = known[index] if known is not None else None
            signatures[index] = sig if sig is not None else source_signature(source)
    results: list[Plugin | None] = [None] * len(sources)
    scripts_by_root: dict[Path, list[int]] = {}
    with shared_resolution():
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
    out: list[Loaded] = []
    for plugin, sig in zip(results, signatures, strict=True):
        data = None
        if caching and sig is not None and plugin is not None and plugin.cacheable:
            data = pickle.dumps(plugin, protocol=pickle.HIGHEST_PROTOCOL)
        out.append((plugin, sig, data))
    return out


def _can_fork(count: int) -> bool:
    return (
        count >= PARALLEL_MIN
        and hasattr(os, "fork")
        and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
    )


def split(sources: Sequence[Source], child_share: float = CHILD_SHARE) -> tuple[list[int], list[int]]:
    """Indices for this process and for the child, each source to the side less loaded so far."""
    mine: list[int] = []
    theirs: list[int] = []
    my_cost = their_cost = 0.0
    for index, source in enumerate(sources):
        cost = SCRIPT_COST if source.is_script else FOLDER_COST
        if (their_cost + cost) / child_share <= (my_cost + cost) / (1 - child_share):
            theirs.append(index)
            their_cost += cost
        else:
            mine.append(index)
            my_cost += cost
    return mine, theirs


def _load_parallel(
    sources: Sequence[Source], caching: bool = False, known: Sequence[Signature | None] | None = None
) -> list[Loaded]:
    known = list(known) if known is not None else [None] * len(sources)
    if not _can_fork(len(sources)):
        return _load_batch(sources, caching, known)
    mine, theirs = split(sources)
    their_sources = [sources[i] for i in theirs]
    their_known = [known[i] for i in theirs]
    read_fd, write_fd = os.pipe()
    _widen(write_fd)
    pid = os.fork()
    if pid == 0:  # the child: read its share, send it back, leave without any cleanup of the parent's
        status = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb", buffering=0) as pipe:
                _send_all(pipe, their_sources, caching, their_known)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    their_results: list[Loaded] | None = None
    with os.fdopen(read_fd, "rb") as pipe:
        try:
            my_results = _load_batch([sources[i] for i in mine], caching, [known[i] for i in mine])
        except BaseException:
            pipe.read()  # let the child finish writing before it is waited for
            os.waitpid(pid, 0)
            raise
        # The child sent its first chunks while this process was busy: unpickling them now
        # overlaps with the child reading its last ones.
        their_results = _receive(pipe, len(theirs))
        pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(wait_status) != 0:
        their_results = None
    if their_results is None:
        their_results = _load_batch(their_sources, caching, their_known)
    merged: list[Loaded | None] = [None] * len(sources)
    for index, result in zip(mine, my_results, strict=True):
        merged[index] = result
    for index, result in zip(theirs, their_results, strict=True):
        merged[index] = result
    return [result for result in merged if result is not None]


CHUNK = 48  # plugin folders per message after the child's script files (the last one is the tail)


def _chunks(sources: Sequence[Source]) -> list[list[int]]:
    """The child's work in the order it sends it: all script files in one piece (so their import
    fallbacks still run in parallel and hanging files cost one time limit), then folders in
    small pieces, so what the parent still unpickles after the child is done is small."""
    scripts = [i for i, source in enumerate(sources) if source.is_script]
    folders = [i for i, source in enumerate(sources) if not source.is_script]
    pieces = [scripts] if scripts else []
    pieces += [folders[i : i + CHUNK] for i in range(0, len(folders), CHUNK)]
    return pieces


def _send_all(pipe: BinaryIO, sources: Sequence[Source], caching: bool, known: Sequence[Signature | None]) -> None:
    for piece in _chunks(sources):
        batch = _load_batch([sources[i] for i in piece], caching, [known[i] for i in piece])
        # Each plugin pickled on its own: the parent keeps these bytes as the cache entries.
        # With no cache wanted, the bytes are still how the plugin travels.
        message = [
            (index, sig, data if data is not None else pickle.dumps(plugin, protocol=pickle.HIGHEST_PROTOCOL), data is not None)
            for index, (plugin, sig, data) in zip(piece, batch, strict=True)
        ]
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.write(len(payload).to_bytes(8, "little") + payload)


def _receive(pipe: BinaryIO, count: int) -> list[Loaded] | None:
    """The child's results, or None when its messages are not what they should be."""
    out: list[Loaded | None] = [None] * count
    received = 0
    with contextlib.suppress(Exception):
        while received < count:
            header = pipe.read(8)
            if len(header) != 8:
                return None
            payload = pipe.read(int.from_bytes(header, "little"))
            for index, sig, data, cached in pickle.loads(payload):
                plugin = pickle.loads(data)
                if plugin is not None and not isinstance(plugin, Plugin):
                    return None
                if out[index] is None:
                    received += 1
                out[index] = (plugin, sig, data if cached else None)
        return [item for item in out if item is not None]
    return None


def _widen(fd: int) -> None:
    """Make the pipe hold a whole share (Linux): the child never waits for this process to read."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, 1 << 20)
