"""Stored setting values and enabled state, in the data dir's SQLite database.

Values keep their JSON types (the original host stored strings and lost them). Every
write is one transaction in WAL mode, so a process killed mid-write loses at most that
write. Other modules (run history) keep their own tables in the same file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

DB_NAME = "scriptdeck.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS setting_values (
    scope TEXT NOT NULL,      -- 'stored' (the service's settings) or 'last' (last-used dialog values)
    key TEXT NOT NULL,        -- the service's settings key (service id, or id:open / id:save)
    name TEXT NOT NULL,
    value TEXT NOT NULL,      -- JSON
    PRIMARY KEY (scope, key, name)
);
CREATE TABLE IF NOT EXISTS plugin_state (
    plugin_id TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open the database with the settings every module of scriptdeck relies on."""
    import sqlite3  # here: `scriptdeck list` on a fresh data dir never needs it (a few ms to import)

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SettingsStore:
    """Per-service stored values, last-used values and plugin enabled state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = connect(path)
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, scope: str, key: str) -> dict[str, Any]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, value FROM setting_values WHERE scope=? AND key=? ORDER BY rowid", (scope, key)
            ).fetchall()
        return {name: json.loads(value) for name, value in rows}

    def _write(self, scope: str, key: str, values: Mapping[str, Any], *, replace: bool) -> None:
        encoded = [(scope, key, name, json.dumps(value)) for name, value in values.items()]
        with self._transaction() as conn:
            if replace:
                conn.execute("DELETE FROM setting_values WHERE scope=? AND key=?", (scope, key))
            conn.executemany("INSERT OR REPLACE INTO setting_values VALUES (?, ?, ?, ?)", encoded)

    def values(self, key: str) -> dict[str, Any]:
        """The stored values of a service (as typed JSON values; not yet checked against the schema)."""
        return self._read("stored", key)

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        """Store these values over the existing ones, in one transaction."""
        self._write("stored", key, values, replace=False)

    def reset(self, key: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM setting_values WHERE scope='stored' AND key=?", (key,))

    def last_used(self, key: str) -> dict[str, Any]:
        """The values the user last ran an action or format direction with."""
        return self._read("last", key)

    def remember(self, key: str, values: Mapping[str, Any]) -> None:
        self._write("last", key, values, replace=True)

    def is_enabled(self, plugin_id: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT enabled FROM plugin_state WHERE plugin_id=?", (plugin_id,)).fetchone()
        return True if row is None else bool(row[0])

    def disabled_ids(self) -> set[str]:
        with self._lock:
            rows = self._conn.execute("SELECT plugin_id FROM plugin_state WHERE enabled=0").fetchall()
        return {r[0] for r in rows}

    def set_enabled(self, plugin_id: str, enabled: bool) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO plugin_state VALUES (?, ?)", (plugin_id, int(enabled)))
