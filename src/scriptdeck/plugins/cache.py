"""A discovery cache: what was learned about a plugin, reused while none of its files changed.

Parsing every plugin module with `ast` is most of discovery's cost (about 0.3 ms a file);
re-listing 1,000 unchanged plugins should not pay it again. An entry is keyed by the plugin's
path and is valid while the stat signature (name, size, mtime_ns) of every file it was read
from is unchanged: the script file itself, or every file of a plugin folder. Results that
needed the import fallback are never cached (they depend on files outside the plugin).

The cache lives in the data dir (`cache/discovery.pickle`) and is private to this user, like
the plugins it describes; a cache that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path

from scriptdeck.plugins.model import Plugin

FORMAT = 1  # bump when Plugin/Service/SettingField change shape
_SKIP_DIRS = {"__pycache__", ".git"}

Signature = tuple[tuple[str, int, int], ...]


def signature(path: Path) -> Signature | None:
    """The stat signature of a script file, or of every file under a plugin folder."""
    try:
        if path.is_file():
            st = path.stat()
            return (("", st.st_size, st.st_mtime_ns),)
        entries: list[tuple[str, int, int]] = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for name in sorted(files):
                full = os.path.join(folder, name)
                st = os.stat(full)
                entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
        return tuple(entries)
    except OSError:
        return None


class DiscoveryCache:
    """Load once, `get`/`put` during discovery, `save` once (atomically) if anything changed."""

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

    def get(self, path: Path, root: Path) -> tuple[Plugin, Signature] | tuple[None, Signature | None]:
        """The cached plugin for `path` when its files are unchanged, and the current signature."""
        key = str(path)
        current = signature(path)
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
        key = str(plugin.path)
        self._entries[key] = (current, pickle.dumps(plugin, protocol=pickle.HIGHEST_PROTOCOL))
        self._used.add(key)
        self._dirty = True

    def save(self) -> None:
        """Write the entries used by this discovery (forgetting plugins that went away)."""
        if not self._dirty and self._used == set(self._entries):
            return
        entries = {k: v for k, v in self._entries.items() if k in self._used}
        with contextlib.suppress(OSError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".discovery-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump((FORMAT, entries), fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self.file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
