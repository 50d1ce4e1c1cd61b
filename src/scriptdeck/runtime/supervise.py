"""Judging a run: what its messages mean, which events it fires, how it ends, what history keeps.

One `Judge` per run, used from that run's host thread (so its events come in order), except
`output`: lines of the worker's fds 1 and 2 arrive from the thread draining them (output.py),
and each log record is added and published under one lock, so the log and its events agree.
Event sequences, by kind::

    automation  AutomationScriptStarted, (AutomationScriptStatusChanged | RunLog | ...)*,
                then one of AutomationScriptFinished / Failed / Error / Cancelled
    action      ActionStarted, ..., ActionFinished / ActionError / ActionCancelled
    format      FormatStarted, ..., FormatOpened / FormatSaved / FormatFailed / FormatError / FormatCancelled
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scriptdeck.plugins.model import ServiceKind
from scriptdeck.runtime import events as ev
from scriptdeck.runtime.gcode_recorder import RecordingPort
from scriptdeck.runtime.protocol import Outcome
from scriptdeck.runtime.results import RunResult, coerce_returned, read_automation_return

if TYPE_CHECKING:
    from scriptdeck.runtime.runner import ActiveRun, Runner
    from scriptdeck.runtime.ui import Prompt

CHECKPOINT_INTERVAL = 0.5  # seconds between saves of a running run's log to the history
# A checkpoint rewrites the kept log: when that gets slow (thousands of records), wait longer so
# saving takes at most this share of the run's time.
CHECKPOINT_MAX_SHARE = 0.1

# The log a run keeps (in memory, in its history row, in RunResult.log): the first LOG_HEAD
# records say how it began, the last LOG_TAIL how it ended, one marker in between counts the
# rest. A plugin printing in a loop otherwise grows the host's memory and the row without bound
# (300,000 lines: 690 MB and a 45 MB JSON value). Every record is still published as a RunLog
# event when it comes; only what is kept is capped.
LOG_HEAD = 1_000
LOG_TAIL = 9_000

_FINAL = {
    ServiceKind.AUTOMATION: {"finished": ev.AUTOMATION_FINISHED, "failed": ev.AUTOMATION_FAILED,
                             "error": ev.AUTOMATION_ERROR, "cancelled": ev.AUTOMATION_CANCELLED},
    ServiceKind.ACTION: {"finished": ev.ACTION_FINISHED, "failed": ev.ACTION_ERROR,
                         "error": ev.ACTION_ERROR, "cancelled": ev.ACTION_CANCELLED},
    ServiceKind.FORMAT: {"finished": ev.FORMAT_SAVED, "failed": ev.FORMAT_FAILED,
                         "error": ev.FORMAT_ERROR, "cancelled": ev.FORMAT_CANCELLED},
}


class KeptLog:
    """A run's log capped at LOG_HEAD + LOG_TAIL records; appends to `head` in place while it fits."""

    def __init__(self, head: list[dict[str, Any]]) -> None:
        self.head = head
        self.tail: deque[dict[str, Any]] | None = None  # once over the cap: the last LOG_TAIL records
        self.left_out = 0
        self._left_out_since = ""  # the time of the first record left out

    def add(self, record: dict[str, Any]) -> None:
        if self.tail is None:
            if len(self.head) < LOG_HEAD + LOG_TAIL:
                self.head.append(record)
                return
            self.tail = deque(self.head[LOG_HEAD:], maxlen=LOG_TAIL)
            del self.head[LOG_HEAD:]
        if len(self.tail) == self.tail.maxlen:
            if not self.left_out:
                self._left_out_since = (self.tail[0] if self.tail else record)["time"]
            self.left_out += 1
        self.tail.append(record)

    def records(self) -> list[dict[str, Any]]:
        """What the run keeps: all records, or the head, one marker record and the tail."""
        if self.tail is None:  # over the cap, the first record added leaves one out
            return list(self.head)
        marker = {"level": "WARNING", "levelno": 30, "time": self._left_out_since,
                  "message": f"… {self.left_out:,} log records left out "
                             f"(a run keeps the first {len(self.head):,} and the last {self.tail.maxlen:,})",
                  "exc_text": None, "logger": "scriptdeck"}
        return [*self.head, marker, *self.tail]


def describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker process died: killed by {name} (exit status {code})"
    return f"the worker process died with exit status {code}"


class Judge:
    def __init__(self, runner: Runner, run: ActiveRun) -> None:
        self.runner = runner
        self.run = run
        request = run.request
        self.service = request.service
        self.kind = self.service.kind
        self.result = RunResult(request.run_id, self.service.id, str(self.kind), "running",
                                title=self.service.label, direction=request.job.direction,
                                settings=dict(request.job.settings))
        self._error_type: str | None = None
        self._saved_at = 0.0
        self._save_cost = 0.0  # seconds the last checkpoint took
        self._unsaved: set[str] = set()  # the history columns changed since the last checkpoint
        self._kept_log = KeptLog(self.result.log)
        self._save_timer: threading.Timer | None = None
        self._save_lock = threading.Lock()
        self._log_lock = threading.Lock()

    # -- events ------------------------------------------------------------------------------------

    def _base(self) -> dict[str, Any]:
        if self.kind == ServiceKind.AUTOMATION:
            return {"id": self.service.id, "title": self.service.label}
        base: dict[str, Any] = {"id": self.service.id, "label": self.service.label}
        if self.kind == ServiceKind.FORMAT:
            base["direction"] = self.result.direction
            base["filename"] = self.run.request.job.filename
        return base

    def publish(self, name: str, extra: dict[str, Any] | None = None) -> None:
        self.runner.events.publish(name, {**self._base(), **(extra or {})}, self.result.run_id)

    def log(self, level: str, message: str, exc_text: str | None = None, logger: str = "scriptdeck") -> None:
        import logging

        record = {"level": level, "levelno": logging.getLevelName(level), "time": ev.now_iso(),
                  "message": message, "exc_text": exc_text, "logger": logger}
        self._record_log(record)

    def _checkpoint_soon(self, column: str) -> None:
        # Log, status history and messages reach the database while the run goes on (at most every
        # CHECKPOINT_INTERVAL s), so a host killed mid-run leaves them in the interrupted row.
        with self._save_lock:
            self._unsaved.add(column)
            if self._save_timer is not None:
                return
            interval = max(CHECKPOINT_INTERVAL, self._save_cost / CHECKPOINT_MAX_SHARE)
            delay = max(0.0, self._saved_at + interval - time.monotonic())
            self._save_timer = threading.Timer(delay, self._checkpoint)
            self._save_timer.daemon = True
            self._save_timer.start()

    def _checkpoint(self) -> None:
        with self._save_lock:
            self._save_timer = None
            self._saved_at = time.monotonic()
            columns, self._unsaved = self._unsaved, set()
        fields: dict[str, Any] = {}
        if "log" in columns:
            with self._log_lock:  # the output thread appends meanwhile
                fields["log"] = self._kept_log.records()
        if "status_history" in columns:
            fields["status_history"] = list(self.result.status_history)
        if "messages" in columns:
            fields["messages"] = list(self.result.messages)
        try:
            self.runner.history.checkpoint(self.result.run_id, **fields)
        except Exception:  # a checkpoint is best effort; the final write happens at finish()
            pass
        self._save_cost = time.monotonic() - self._saved_at

    def output(self, stream: str, line: str) -> None:
        """A line the worker wrote to fd 1 or 2: a record like those of print() (any thread)."""
        self.log("INFO" if stream == "stdout" else "WARNING", line, logger=stream)

    def _record_log(self, record: dict[str, Any]) -> None:
        with self._log_lock:
            self._kept_log.add(record)
            self._checkpoint_soon("log")
            self.runner.events.publish(ev.RUN_LOG, {"id": self.service.id, "level": record["level"],
                                                    "message": record["message"], "time": record["time"],
                                                    "exc_text": record.get("exc_text")}, self.result.run_id)

    # -- lifecycle ---------------------------------------------------------------------------------

    def begin(self) -> None:
        request = self.run.request
        self.result.started_at = ev.now_iso()
        self.runner.history.begin({
            "id": request.run_id, "service_id": self.service.id, "kind": str(self.kind), "title": self.service.label,
            "plugin_id": request.plugin.id, "plugin_version": request.plugin.version, "direction": request.job.direction,
            "machine": request.machine if self.kind == ServiceKind.AUTOMATION else None,
            "settings": request.job.settings, "started_at": self.result.started_at,
        })
        self.publish({ServiceKind.AUTOMATION: ev.AUTOMATION_STARTED, ServiceKind.ACTION: ev.ACTION_STARTED,
                      ServiceKind.FORMAT: ev.FORMAT_STARTED}[self.kind])
        for warning in request.warnings:
            self.log("WARNING", warning)

    def notify(self, message: tuple[Any, ...]) -> None:
        """A fire-and-forget message from the worker: log record, status, window/import_export."""
        tag = message[0]
        if tag == "log":
            self._record_log(message[1])
        elif tag == "status" and self.kind == ServiceKind.AUTOMATION:
            status = message[1]
            self.result.status_history.append({"time": ev.now_iso(), "status": status})
            self._checkpoint_soon("status_history")
            self.publish(ev.AUTOMATION_STATUS, {"status": status})
        elif tag == "notify":
            _tag, target, method, args = message
            if target == "import_export":
                reported = self.run.import_export.report(method, args)
                if reported is None:
                    collector = self.run.import_export
                    self.runner.events.publish(ev.RUN_PROGRESS, {"id": self.service.id, "value": collector.progress,
                                                                 "maximum": collector.progress_max}, self.result.run_id)
                    return
                text, title = reported.message, ""
            else:
                text, title = args
            if method not in ("warning", "information", "error"):
                return
            self.result.messages.append({"level": method, "message": text, "title": title, "source": target})
            self._checkpoint_soon("messages")
            self.runner.events.publish(ev.RUN_MESSAGE, {"id": self.service.id, "level": method, "title": title,
                                                        "message": text, "source": target}, self.result.run_id)
            getattr(self.run.request.window, method)(text, title)

    def ask(self, prompt: Prompt) -> Any:
        self.runner.events.publish(ev.RUN_PROMPT, {"id": self.service.id, **prompt.to_json()}, self.result.run_id)
        window = self.run.request.window
        answer = window.question(prompt) if prompt.kind == "question" else window.choose_option(prompt)
        self.runner.events.publish(ev.RUN_PROMPT_ANSWERED, {"id": self.service.id, "request_id": prompt.request_id,
                                                             "value": answer}, self.result.run_id)
        return answer

    def machine_error(self, exc: BaseException) -> None:
        self.result.error = f"{type(exc).__name__}: {exc}"
        self.log("ERROR", self.result.error)

    def internal_error(self, exc: BaseException) -> None:
        self.result.error = f"internal error: {type(exc).__name__}: {exc}"
        self.log("ERROR", self.result.error, "".join(traceback.format_exception(exc)))

    # -- the end -----------------------------------------------------------------------------------

    def finish(self, outcome: Outcome | None) -> None:
        with self._save_lock:  # the final write below replaces any checkpoint
            if self._save_timer is not None:
                self._save_timer.cancel()
                self._save_timer = None
        run = self.run
        try:
            name = self._judge(outcome)
        except Exception as exc:  # e.g. the machine failed during wait_for_buffer
            name = self._error(f"{type(exc).__name__}: {exc}", "PluginRaisedError")
            if run.abort_reason != "cancel":  # else the cancel woke the wait: no error of its own
                self.log("ERROR", self.result.error or "", "".join(traceback.format_exception(exc)))
        if run.abort_reason == "cancel" and self.result.outcome != "finished":
            name = self._cancelled()
        self._cleanup_temp()
        result = self.result
        with self._log_lock:  # below the cap, result.log is the kept log already
            if self._kept_log.left_out:
                result.log = self._kept_log.records()
        result.ended_at = ev.now_iso()
        if run.port is not None:
            result.gcode = list(run.port.lines)
        result.error_type = self._error_type
        self.runner.history.finish(
            result.run_id, outcome=result.outcome, ended_at=result.ended_at, result=result.result,
            failure_reason=result.failure_reason, error=result.error, status_history=result.status_history,
            log=result.log, messages=result.messages,
            gcode="\n".join(result.gcode) if self.kind == ServiceKind.AUTOMATION else None,
        )
        run.result = result
        self._release_machine()
        self.publish(*name)

    def _release_machine(self) -> None:
        # Before the final event: whoever reacts to it (the next script) finds the machine free.
        port = self.run.port
        release = getattr(port.target, "release", None) if port is not None else None
        if callable(release):
            try:
                release()
            except Exception as exc:
                self.log("WARNING", f"releasing the machine: {type(exc).__name__}: {exc}")

    def _cancelled(self) -> tuple[str, dict[str, Any]]:
        self.result.outcome = "cancelled"
        self.result.error = None
        self._error_type = "RunCancelledError"
        return _FINAL[self.kind]["cancelled"], {}

    def _error(self, message: str, error_type: str) -> tuple[str, dict[str, Any]]:
        self.result.outcome = "error"
        self.result.error = message
        self._error_type = error_type
        return _FINAL[self.kind]["error"], {"error": message}

    def _judge(self, outcome: Outcome | None) -> tuple[str, dict[str, Any]]:
        run = self.run
        if run.abort_reason == "cancel":
            return self._cancelled()
        if run.abort_reason == "timeout":
            return self._error(f"timed out after {run.request.timeout:g} s", "RunTimeoutError")
        if outcome is None:
            if self.result.error:  # internal error, already logged
                return self._error(self.result.error, "RunError")
            code = run.proc.exitcode(KILL_WAIT) if run.proc is not None else None
            return self._error(describe_exit(code), "WorkerDiedError")
        if not outcome.ok:
            self.result.traceback = outcome.traceback
            return self._error(outcome.error or "the plugin failed", "PluginRaisedError")
        if self.kind == ServiceKind.AUTOMATION:
            return self._judge_automation(outcome)
        self.result.document_text = outcome.document_text
        if self.kind == ServiceKind.ACTION:
            self.result.outcome = "finished"
            return ev.ACTION_FINISHED, {"changed": outcome.document_text is not None}
        collector = run.import_export
        if collector.failed:
            self.result.outcome = "failed"
            self.result.failure_reason = "; ".join(collector.errors)
            return ev.FORMAT_FAILED, {"messages": collector.errors}
        request = run.request
        if request.target_file is not None:
            assert request.job.file_path is not None
            from scriptdeck.document.formats import publish  # lazily: it imports numpy

            if os.path.getsize(request.job.file_path) == 0:  # likely a save that forgot to write
                self.log("WARNING", f"{request.target_file}: the format wrote nothing; the file is empty")
            publish(request.job.file_path, request.target_file)  # the permissions of a plain write, not 0600
        self.result.outcome = "finished"
        return (ev.FORMAT_OPENED if request.job.direction == "open" else ev.FORMAT_SAVED), {}

    def _judge_automation(self, outcome: Outcome) -> tuple[str, dict[str, Any]]:
        try:
            returned = read_automation_return(outcome.value)
        except ValueError as exc:
            return self._error(str(exc), "PluginRaisedError")
        if not returned.success:
            self.result.outcome = "failed"
            self.result.failure_reason = returned.failure_reason
            self.result.result = returned.values
            return ev.AUTOMATION_FAILED, {"failure_reason": returned.failure_reason}
        port = self.run.port
        if returned.wait_for_buffer and port is not None:
            if not isinstance(port.target, RecordingPort):  # a machine: its moves may take a while (a heat-up...)
                self.log("INFO", "the script returned; waiting for the machine to finish its moves")
            port.wait_for_buffer()
            if self.run.abort_reason == "cancel":
                # Cancelled while the machine ran the script's moves: the quick-stop (M410) let
                # the M400 through, but the moves were not all made.
                return self._cancelled()
        values, warnings = coerce_returned(self.service.settings, returned.values)
        for warning in warnings:
            self.log("WARNING", warning)
        if values:
            key = self.run.request.settings_key
            self.runner.store.update(key, values)
            self.runner.events.publish(ev.SETTINGS_SAVED, {"id": self.service.id, "key": key, "values": values},
                                       self.result.run_id)
        if returned.success_message:
            self.log("INFO", returned.success_message)
        self.result.outcome = "finished"
        self.result.result = values
        return ev.AUTOMATION_FINISHED, {"result": values}

    def _cleanup_temp(self) -> None:
        request = self.run.request
        if request.target_file is not None and request.job.file_path:
            Path(request.job.file_path).unlink(missing_ok=True)


KILL_WAIT = 3.0  # seconds to wait for a dying worker's exit status
