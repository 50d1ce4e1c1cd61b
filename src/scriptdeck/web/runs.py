"""Live state of runs, folded from the event stream (the same events a script would see).

The dashboard shows a run's status line, log, progress and outcome while it happens; the
run history (SQLite, owned by the runtime) is the record afterwards. Folding events here
keeps the page and /api/runs/{id} consistent with /api/events by construction.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

KEEP = 200  # finished runs kept in memory; older ones are read from the history
LOG_LIMIT = 5_000

_OUTCOME = {
    "AutomationScriptFinished": "finished", "AutomationScriptFailed": "failed",
    "AutomationScriptError": "error", "AutomationScriptCancelled": "cancelled",
    "ActionFinished": "finished", "ActionError": "error", "ActionCancelled": "cancelled",
    "FormatOpened": "finished", "FormatSaved": "finished", "FormatFailed": "failed",
    "FormatError": "error", "FormatCancelled": "cancelled",
}
_STARTED = {"AutomationScriptStarted": "automation", "ActionStarted": "action", "FormatStarted": "format"}


@dataclass
class LiveRun:
    id: str
    service: str = ""
    kind: str = ""
    title: str = ""
    state: str = "running"
    status: str | None = None
    status_history: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    started: str | None = None
    ended: str | None = None
    progress: float | None = None
    changed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "service": self.service, "kind": self.kind, "title": self.title, "state": self.state,
            "status": self.status, "status_history": self.status_history, "settings": self.settings,
            "result": self.result, "error": self.error, "log": self.log, "messages": self.messages,
            "started": self.started, "ended": self.ended, "progress": self.progress, "changed": self.changed,
        }


class RunTracker:
    def __init__(self) -> None:
        self._runs: OrderedDict[str, LiveRun] = OrderedDict()
        self._lock = threading.Lock()

    def expect(self, run_id: str, service: str, kind: str, title: str, settings: dict[str, Any]) -> LiveRun:
        """Register a run the dashboard just started (its Started event may already have arrived)."""
        with self._lock:
            run = self._runs.get(run_id) or LiveRun(run_id)
            run.service, run.kind = service, kind
            run.title = run.title or title
            run.settings = settings
            self._runs[run_id] = run
            self._trim()
            return run

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            run = self._runs.get(run_id)
            return run.to_json() if run else None

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self._runs.values() if r.state == "running"]

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.to_json() for r in self._runs.values()]

    def _trim(self) -> None:
        while len(self._runs) > KEEP:
            oldest = next(iter(self._runs))
            if self._runs[oldest].state == "running":
                self._runs.move_to_end(oldest)
                break
            del self._runs[oldest]

    def fold(self, env: dict[str, Any]) -> None:
        """Apply one event envelope."""
        run_id = env.get("run_id")
        if run_id is None:
            return
        name = env.get("event", "")
        payload: dict[str, Any] = env.get("payload") or {}
        at = env.get("time")
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                if name not in _STARTED and name not in ("RunLog", "RunMessage", "RunProgress",
                                                         "AutomationScriptStatusChanged"):
                    return
                run = self._runs[run_id] = LiveRun(run_id)
                self._trim()
            if name in _STARTED:
                run.kind = _STARTED[name]
                run.service = run.service or str(payload.get("id", ""))
                run.title = str(payload.get("title") or payload.get("label") or run.title)
                run.started = at
            elif name == "AutomationScriptStatusChanged":
                run.status = None if payload.get("status") is None else str(payload.get("status"))
                run.status_history.append({"time": at, "status": run.status})
            elif name == "RunLog":
                if len(run.log) < LOG_LIMIT:
                    run.log.append({"level": str(payload.get("level", "INFO")), "message": str(payload.get("message", "")),
                                    "time": payload.get("time") or at, "exc_text": payload.get("exc_text")})
            elif name == "RunMessage":
                run.messages.append({"level": payload.get("level"), "title": payload.get("title", ""),
                                     "message": payload.get("message", "")})
            elif name == "RunProgress":
                maximum, value = payload.get("maximum"), payload.get("value")
                if isinstance(maximum, int | float) and maximum and isinstance(value, int | float):
                    run.progress = max(0.0, min(1.0, value / maximum))
            elif name in _OUTCOME:
                run.state = _OUTCOME[name]
                run.ended = at
                if "result" in payload:
                    run.result = payload["result"]
                if "changed" in payload:
                    run.changed = bool(payload["changed"])
                error = payload.get("error") or payload.get("failure_reason")
                if error is None and payload.get("messages"):
                    error = "; ".join(str(m) for m in payload["messages"])
                run.error = None if error is None else str(error)
