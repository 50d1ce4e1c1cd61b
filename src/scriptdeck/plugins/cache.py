"""A discovery cache: what was learned about a plugin, reused while none of its files changed.

Parsing every plugin module with `ast` is most of discovery's cost (about 0.3 ms a file);
re-listing 1,000 unchanged plugins should not pay it again. An entry is keyed by the plugin's
path and is valid while the stat signature (name, size, mtime_ns) of every file it was read
from is unchanged: the script file itself, or every file of a plugin folder. Results that
needed the import fallback are never cached (they depend on files outside the plugin).

On a cold cache the signatures and the pickled entries are made by whoever reads the plugin
(loading.py: this process or its forked helper), not here: a miss for a path with no entry
costs nothing in `lookup`, and `put_bytes` stores the helper's pickled plugin as it is.

The cache lives in the data dir (`cache/discovery.pickle`) and is private to this user, like
the plugins it describes; a cache that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from pathlib import Path

from scriptdeck.plugins.model import Plugin

FORMAT = 2  # bump when Plugin/Service/SettingField change shape or validation finds more
_SKIP_DIRS = {"__pycache__", ".git"}

Signature = tuple[tuple[str, int, int], ...]


def script_signature(path: str) -> Signature | None:
    """The stat signature of a script file (None when it cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (("", st.st_size, st.st_mtime_ns),)


def folder_signature(path: str) -> Signature | None:
    """The stat signature of every file under a plugin folder, in `os.walk` order.

    Same entries as a sorted, top-down `os.walk` that skips `_SKIP_DIRS` and does not follow
    links to folders, but from `os.scandir` entries: no path objects, no `relpath` per file.
    """
    entries: list[tuple[str, int, int]] = []
    try:
        _walk(path, "", entries)
    except OSError:  # a file that vanished or cannot be stat'ed: no signature, no caching
        return None
    return tuple(entries)


def _walk(folder: str, rel: str, entries: list[tuple[str, int, int]]) -> None:
    try:
        with os.scandir(folder) as it:
            items = list(it)
    except OSError:  # os.walk skips folders it cannot list; so does the signature
        return
    files: list[os.DirEntry[str]] = []
    dirs: list[str] = []
    for entry in items:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            dirs.append(entry.name)
        else:
            files.append(entry)
    files.sort(key=lambda e: e.name)
    for entry in files:
        st = entry.stat()  # follows links, like os.stat
        entries.append((rel + entry.name, st.st_size, st.st_mtime_ns))
    for name in sorted(dirs):
        if name in _SKIP_DIRS:
            continue
        sub = os.path.join(folder, name)
        if os.path.islink(sub):  # os.walk(followlinks=False) lists it but does not enter it
            continue
        _walk(sub, rel + name + os.sep, entries)


def signature(path: Path | str, is_script: bool | None = None) -> Signature | None:
    """The stat signature of a script file, or of every file under a plugin folder."""
    text = os.fspath(path)
    if is_script is None:
        is_script = os.path.isfile(text)
    return script_signature(text) if is_script else folder_signature(text)


class DiscoveryCache:
    """Load once, `lookup`/`put` during discovery, `save` once (atomically) if anything changed."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._entries: dict[str, tuple[Signature, bytes]] = {}
        self._used: set[str] = set()
        self._dirty = False
        try:
            with file.open("rb") as fh:
                version, entries = pickle.load(fh)
            if version == FORMAT and isinstance(entries, dict):
                self._entries = entries
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError, AttributeError, ImportError):
            self._entries = {}

    def has(self, key: str) -> bool:
        return key in self._entries

    def lookup(
        self, path: Path, root: Path, is_script: bool | None = None
    ) -> tuple[Plugin, Signature] | tuple[None, Signature | None]:
        """Like `get`, but a path with no entry returns (None, None) without any stat call:
        its signature is then computed by whoever reads the plugin."""
        if str(path) not in self._entries:
            return None, None
        return self.get(path, root, is_script)

    def get(
        self, path: Path, root: Path, is_script: bool | None = None
    ) -> tuple[Plugin, Signature] | tuple[None, Signature | None]:
        """The cached plugin for `path` when its files are unchanged, and the current signature."""
        key = str(path)
        current = signature(key, is_script)
        entry = self._entries.get(key)
        if entry is None or current is None or entry[0] != current:
            return None, current
        try:
            plugin = pickle.loads(entry[1])
        except Exception:  # a damaged entry is simply a miss
            return None, current
        if not isinstance(plugin, Plugin) or plugin.root != root:
            return None, current
        self._used.add(key)
        return plugin, current

    def put(self, plugin: Plugin, current: Signature | None) -> None:
        if current is None:
            return
        self.put_bytes(str(plugin.path), current, pickle.dumps(plugin, protocol=pickle.HIGHEST_PROTOCOL))

    def put_bytes(self, key: str, current: Signature | None, data: bytes) -> None:
        """Store an already pickled plugin (`current` must be taken before its files were read)."""
        if current is None:
            return
        self._entries[key] = (current, data)
        self._used.add(key)
        self._dirty = True

    def save(self) -> None:
        """Write the entries used by this discovery (forgetting plugins that went away)."""
        if not self._dirty and self._used == set(self._entries):
            return
        entries = {k: v for k, v in self._entries.items() if k in self._used}
        with contextlib.suppress(OSError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            # A name of our own, created exclusively and private (like tempfile.mkstemp, whose
            # import costs more than this whole write).
            tmp = os.path.join(self.file.parent, f".discovery-{os.getpid()}-{time.monotonic_ns()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump((FORMAT, entries), fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
