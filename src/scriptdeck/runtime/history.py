"""Run history: one row per run in the data dir's SQLite file, next to the stored settings.

A row is written when a run starts (outcome ``running``) and completed when it ends, so a
host killed mid-run leaves a trace: the next host to open the database marks such rows
``interrupted`` (only rows of hosts on this computer that are no longer alive — a CLI run
must not "interrupt" the dashboard's run in progress).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

from scriptdeck.errors import UserError
from scriptdeck.settings.store import connect

OUTCOMES = ("running", "finished", "failed", "error", "cancelled", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    kind TEXT NOT NULL,               -- action | format | automation
    title TEXT NOT NULL DEFAULT '',
    plugin_id TEXT NOT NULL DEFAULT '',
    plugin_version INTEGER,
    direction TEXT,                   -- formats: open | save
    machine TEXT,
    settings TEXT NOT NULL DEFAULT '{}',   -- JSON: the values the run received
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL,            -- running | finished | failed | error | cancelled | interrupted
    result TEXT,                      -- JSON: what an automation script returned
    failure_reason TEXT,
    error TEXT,
    status_history TEXT NOT NULL DEFAULT '[]',  -- JSON: [{time, status}]
    log TEXT NOT NULL DEFAULT '[]',             -- JSON: [{level, time, message, exc_text, logger}]
    messages TEXT NOT NULL DEFAULT '[]',        -- JSON: window / import_export messages
    gcode TEXT,                                  -- automation: every line sent, newline-separated
    host_name TEXT,
    host_pid INTEGER
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
"""

_JSON_COLUMNS = ("settings", "result", "status_history", "log", "messages")
_SUMMARY = ("id", "service_id", "kind", "title", "outcome", "started_at", "ended_at", "error", "failure_reason")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class History:
    """Read and write run rows. Thread-safe; one connection per instance."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection = connect(path)
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def mark_interrupted(self) -> int:
        """Rows left `running` by a host on this computer that is gone become `interrupted`."""
        me = socket.gethostname()
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, host_pid FROM runs WHERE outcome='running' AND host_name=?", (me,)
            ).fetchall()
            dead = [run_id for run_id, pid in rows if pid is None or (pid != os.getpid() and not _pid_alive(pid))]
            for run_id in dead:
                self._conn.execute(
                    "UPDATE runs SET outcome='interrupted', error=COALESCE(error, 'the host stopped during the run') "
                    "WHERE id=? AND outcome='running'",
                    (run_id,),
                )
        return len(dead)

    def begin(self, row: dict[str, Any]) -> None:
        """Insert a run that just started (`row` holds at least id, service_id, kind, started_at)."""
        data = {**row, "outcome": "running", "host_name": socket.gethostname(), "host_pid": os.getpid()}
        self._insert(data)

    def _insert(self, data: dict[str, Any]) -> None:
        encoded = {k: json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in data.items()}
        columns = ", ".join(encoded)
        marks = ", ".join("?" for _ in encoded)
        with self._lock:
            self._conn.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", tuple(encoded.values()))

    def finish(self, run_id: str, **fields: Any) -> None:
        """Complete a run row: outcome, ended_at, result, error, log... (JSON columns given as values)."""
        if fields.get("outcome") not in OUTCOMES:
            raise ValueError(f"unknown outcome {fields.get('outcome')!r}")
        encoded = {k: json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in fields.items()}
        assignments = ", ".join(f"{k}=?" for k in encoded)
        with self._lock:
            self._conn.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*encoded.values(), run_id))

    def checkpoint(self, run_id: str, **fields: Any) -> None:
        """Save what a running run has so far (log, status history...), so a killed host loses little."""
        encoded = {k: json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in fields.items()}
        assignments = ", ".join(f"{k}=?" for k in encoded)
        with self._lock:
            self._conn.execute(f"UPDATE runs SET {assignments} WHERE id=? AND outcome='running'",
                               (*encoded.values(), run_id))

    def list(self, limit: int = 50, service_id: str | None = None) -> list[dict[str, Any]]:
        """The most recent runs first, summary columns only."""
        sql = f"SELECT {', '.join(_SUMMARY)} FROM runs"
        params: tuple[Any, ...] = ()
        if service_id:
            sql += " WHERE service_id=?"
            params = (service_id,)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [dict(zip(_SUMMARY, row, strict=True)) for row in rows]

    def get(self, run_id: str) -> dict[str, Any]:
        """One run, complete; `run_id` may be a unique prefix (as `history` prints it)."""
        with self._lock:
            cursor = self._conn.execute("SELECT * FROM runs WHERE id LIKE ? ORDER BY started_at LIMIT 2",
                                        (run_id.replace("%", "").replace("_", "") + "%",))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        if not rows:
            raise UserError(f"no run {run_id!r} in the history")
        if len(rows) > 1:
            raise UserError(f"run id {run_id!r} is ambiguous; give more characters")
        data = dict(zip(names, rows[0], strict=True))
        for key in _JSON_COLUMNS:
            if data.get(key) is not None:
                data[key] = json.loads(data[key])
        data.pop("host_name", None)
        data.pop("host_pid", None)
        return data
