"""The one seam between the dashboard and the host: every route goes through `WebBackend`.

Routes never touch a worker, a serial port or SQLite themselves; they call the `Host` Python API
(registry, settings store, event bus, runs, machine, documents) through this class, so the
dashboard can do nothing a script embedding `scriptdeck.Host` could not. The web-only state
lives here too: the open document of this dashboard session, the temperature history for the
chart, the terminal scroll-back, pending prompts, and the plugin-folder watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scriptdeck.errors import NotConnectedError, SettingsError, UnknownServiceError, UserError
from scriptdeck.plugins.model import Plugin, Service, ServiceKind
from scriptdeck.plugins.registry import Registry
from scriptdeck.settings.fields import SettingsSchema
from scriptdeck.settings.store import SettingsStore
from scriptdeck.web.documents import DocumentSession
from scriptdeck.web.hub import EventHub, normalise
from scriptdeck.web.runs import RunTracker

TEMPERATURE_WINDOW = 600  # samples at 1 Hz: the chart's "last ten minutes"
TERMINAL_LINES = 2_000
PROMPT_EVENT, PROMPT_ANSWERED = "RunPrompt", "RunPromptAnswered"
RUN_END_EVENTS = frozenset({
    "AutomationScriptFinished", "AutomationScriptFailed", "AutomationScriptError", "AutomationScriptCancelled",
    "ActionFinished", "ActionError", "ActionCancelled",
    "FormatOpened", "FormatSaved", "FormatFailed", "FormatError", "FormatCancelled",
})


class SettingsProblems(SettingsError):
    """Every value of a settings request that does not fit its schema; its message is the first's."""

    def __init__(self, problems: list[SettingsError]) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems


def check_settings(schema: SettingsSchema, values: dict[str, Any]) -> dict[str, Any]:
    """`schema.coerce_values(values)`, but a failure names every bad value, not only the first."""
    typed: dict[str, Any] = {}
    problems: list[SettingsError] = []
    for key, value in values.items():
        try:  # one value at a time: coerce_values stops at the first problem
            typed.update(schema.coerce_values({key: value}))
        except SettingsError as exc:
            problems.append(exc)
    if problems:
        raise SettingsProblems(problems)
    return typed


@dataclass
class WebConfig:
    """Everything `serve` can set. `token=None` generates a fresh one (printed in the login URL)."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    data_dir: Path | None = None
    allowed_hosts: frozenset[str] = frozenset()
    watch_interval: float = 1.0  # plugin-folder poll period, seconds (0 disables)
    sample_interval: float = 1.0  # temperature chart sampling period, seconds (0 disables)


def service_kind(service: Service) -> str:
    return str(service.kind)


def icon_url_for_plugin(plugin: Plugin) -> str:
    return f"/api/plugins/{plugin.id}/icon"


def icon_url_for_service(service: Service) -> str:
    return f"/api/services/{service.id}/icon"


@dataclass
class TerminalBuffer:
    lines: deque[tuple[int, float, str, str]] = field(default_factory=lambda: deque(maxlen=TERMINAL_LINES))
    seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, direction: str, line: str) -> None:
        with self.lock:
            self.seq += 1
            self.lines.append((self.seq, time.time(), direction, line.rstrip("\r\n")))

    def after(self, seq: int) -> tuple[list[tuple[int, float, str, str]], int]:
        with self.lock:
            return [item for item in self.lines if item[0] > seq], self.seq


class WebBackend:
    """Adapts a `scriptdeck.Host` to what the dashboard's routes need."""

    def __init__(self, host: Any, config: WebConfig, hub: EventHub, machine: Any = None) -> None:
        self.host = host
        self._machine = machine
        self._watched: set[int] = set()
        self.config = config
        self.hub = hub
        self.generation = 0
        self.temperatures: deque[tuple[float, dict[str, Any]]] = deque(maxlen=TEMPERATURE_WINDOW)
        self.terminal = TerminalBuffer()
        self.prompts: dict[str, dict[str, Any]] = {}
        self.runs = RunTracker()
        self.documents = DocumentSession(self)
        self.job: Any = None  # the current print job (machine.print_lines)
        self._prompt_lock = threading.Lock()
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._fingerprint: tuple[Any, ...] | None = None
        self._users = 0  # lifespans running: TestClient-style callers may enter several
        self._life_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the host's events and start the watcher and sampler (the app's lifespan)."""
        with self._life_lock:
            self._users += 1
            if self._users > 1:
                return
            self.hub.reopen()
            self._unsubscribe.append(self.host.events.subscribe(self._on_event))
            self._watch_machine()
        if self.config.watch_interval > 0:
            self._fingerprint = await asyncio.to_thread(self._plugin_fingerprint)
            self._tasks.append(asyncio.create_task(self._watch_plugins()))
        if self.config.sample_interval > 0:
            self._tasks.append(asyncio.create_task(self._sample_temperatures()))

    async def stop(self) -> None:
        with self._life_lock:
            self._users -= 1
            if self._users > 0:
                return
            self.hub.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(Exception):
                unsubscribe()
        self._unsubscribe.clear()
        self._watched.clear()
        self.documents.close()

    # -- events -----------------------------------------------------------------------------

    def _on_event(self, raw: Any) -> None:
        env = normalise(raw)
        self.runs.fold(env)  # before publishing: a page reacting to the event reads the new state
        name, payload, run_id = env.get("event"), env["payload"], env["run_id"]
        if name == PROMPT_EVENT:
            prompt = {"id": str(payload.get("request_id")), "run_id": run_id, "kind": payload.get("kind", "question"),
                      "title": payload.get("title") or "", "message": payload.get("message") or "",
                      "options": [str(o) for o in payload.get("options") or []], "default": payload.get("default")}
            with self._prompt_lock:
                self.prompts[prompt["id"]] = prompt
        elif name == PROMPT_ANSWERED:
            with self._prompt_lock:
                self.prompts.pop(str(payload.get("request_id")), None)
        elif name in RUN_END_EVENTS and run_id is not None:
            with self._prompt_lock:
                for key in [k for k, p in self.prompts.items() if p["run_id"] == run_id]:
                    del self.prompts[key]
        elif name == "PluginsChanged":
            self.generation += 1
        self.hub.publish(env)

    # -- plugins and settings ---------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        registry: Registry = self.host.registry
        return registry

    @property
    def store(self) -> SettingsStore:
        store: SettingsStore = self.host.store
        return store

    def reload(self) -> Registry:
        """Rediscover plugins; the host fires PluginsChanged, which refreshes every open page."""
        self.host.reload()
        return self.registry

    def set_enabled(self, plugin_id: str, enabled: bool) -> Plugin:
        plugin = self.registry.plugin(plugin_id)
        self.store.set_enabled(plugin.id, enabled)
        self.host.reload()  # fires PluginsChanged: every open page refreshes
        return self.registry.plugin(plugin_id)

    def service(self, service_id: str, *, field: str = "service_id") -> Service:
        """The usable service `service_id`; `field` is the request field the 404 names."""
        for plugin in self.registry.plugins:
            if plugin.shadowed_by is not None:
                continue
            for service in plugin.services:
                if service.id == service_id:
                    return service
        raise UnknownServiceError(f"{field}: no service {service_id!r}")

    def plugin_of(self, service: Service) -> Plugin:
        return self.registry.plugin(service.plugin_id)

    @staticmethod
    def direction_for(service: Service, direction: str | None) -> str | None:
        if service.kind != ServiceKind.FORMAT:
            if direction:
                raise UserError(f"direction: only format services have a direction, {service.id} is an {service.kind}")
            return None
        if direction is None:
            return "open" if service.can_open else "save"
        if direction not in ("open", "save"):
            raise UserError(f"direction: expected \"open\" or \"save\", got {direction!r}")
        if (direction == "open" and not service.can_open) or (direction == "save" and not service.can_save):
            raise UserError(f"direction: format {service.id} cannot {direction}")
        return direction

    def settings_view(self, service: Service, direction: str | None) -> dict[str, Any]:
        direction = self.direction_for(service, direction)
        schema: SettingsSchema = service.settings_for(direction)
        key = service.settings_key(direction)
        stored = self.store.values(key)
        last = self.store.last_used(key) if service.kind != ServiceKind.AUTOMATION else {}
        # Actions and formats pre-fill their dialog with the last-used values (seed 004 shows
        # the dialog before every run); automation scripts show what they have stored.
        values, warnings = schema.resolve({**stored, **last})
        shown = {k: v for k, v in values.items() if schema.get(k) is not None}
        return {"service": service.id, "direction": direction, "schema": schema.to_json(), "values": shown,
                "stored": stored, "last_used": last, "warnings": warnings}

    def save_settings(self, service: Service, direction: str | None, values: dict[str, Any]) -> dict[str, Any]:
        direction = self.direction_for(service, direction)
        schema = service.settings_for(direction)
        typed = check_settings(schema, values)  # raises naming every bad field: nothing half-saved
        key = service.settings_key(direction)
        if service.kind == ServiceKind.AUTOMATION:
            saver = getattr(self.host, "save_settings", None)
            if callable(saver):  # lets the host re-send the script's commands (seed 000)
                saver(service.id, typed)
            else:
                self.store.update(key, typed)
        else:
            self.store.remember(key, typed)
        return self.settings_view(service, direction)

    def reset_settings(self, service: Service, direction: str | None) -> dict[str, Any]:
        direction = self.direction_for(service, direction)
        key = service.settings_key(direction)
        self.store.reset(key)
        if service.kind != ServiceKind.AUTOMATION:
            self.store.remember(key, {})
        return self.settings_view(service, direction)

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, service: Service, overrides: dict[str, Any]) -> dict[str, Any]:
        schema = service.settings
        schema.coerce_values(overrides)  # 400 naming the field before anything starts
        document = None
        if service.kind == ServiceKind.ACTION:
            document = self.require_document()
            # Seed 004: the dialog's values are remembered and pre-fill it next time.
            self.store.remember(service.settings_key(), schema.coerce_values(overrides))
        revision = int(document.revision) if document is not None else 0
        # The text, not the GcodeDocument: the change comes back in the result and is applied
        # here (one undoable step) before DocumentChanged goes out, so no page reads a stale job.
        text = document.text if document is not None else None
        run_id = str(self.host.start(service.id, settings=overrides, document=text))
        settings, _ = schema.resolve(self.store.values(service.settings_key()), overrides)
        self.runs.expect(run_id, service.id, str(service.kind), service.label, settings)
        if document is not None:
            threading.Thread(target=self._finish_action, args=(run_id, service, revision),
                             name=f"web-action-{run_id[:8]}", daemon=True).start()
        found = self.runs.get(run_id)
        assert found is not None
        return found

    def cancel_run(self, run_id: str) -> None:
        self.host.cancel(run_id)

    def answer_prompt(self, request_id: str, answer: Any) -> None:
        with self._prompt_lock:
            prompt = self.prompts.get(request_id)
        if prompt is None:
            raise UnknownServiceError(f"request_id: no question {request_id!r} is waiting (answered or cancelled)")
        if prompt["kind"] == "choose_option":
            options = prompt["options"]
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(options):
                raise UserError(f"answer: expected an option index 0..{len(options) - 1}, got {answer!r}")
        elif not isinstance(answer, bool):
            raise UserError(f"answer: expected true or false, got {answer!r}")
        self.host.answer(prompt["run_id"], request_id, answer)
        with self._prompt_lock:
            self.prompts.pop(request_id, None)

    def history_record(self, run_id: str) -> dict[str, Any] | None:
        history = getattr(self.host, "history", None)
        if history is None:
            return None
        try:
            record = history.get(run_id)
        except (KeyError, LookupError, UserError):
            return None
        return None if record is None else run_record_json(record)

    def history_list(self, limit: int) -> list[dict[str, Any]]:
        history = getattr(self.host, "history", None)
        if history is None:
            return []
        return [run_record_json(r) for r in history.list(limit=limit)]

    def _finish_action(self, run_id: str, service: Service, revision: int) -> None:
        """Wait for an action run and put its changed document in place as one undoable step."""
        try:
            result = self.host.wait(run_id)
        except Exception as exc:  # the run's own events already told the user
            self.hub.emit("WebRunWaitError", {"id": service.id, "error": str(exc)}, run_id)
            return
        text = getattr(result, "document_text", None)
        if getattr(result, "outcome", "") != "finished" or text is None:
            return
        with self.documents.lock:
            current = self.documents.document
            if current is None:
                return
            if int(current.revision) != revision:
                self.hub.emit("WebDocumentConflict", {"id": service.id, "reason": "the document changed while the action ran"},
                              run_id)
                return
            current.assign(text, label=service.label)
        self.documents.changed(f"{service.label}")

    def run_format(self, service: Service, direction: str, path: Path, settings: dict[str, Any], document: Any) -> Any:
        """Run a format's open or save and wait for it (questions are answered from the browser meanwhile)."""
        text = document.text if document is not None else None
        run_id = str(self.host.start(service.id, settings=settings, direction=direction, file=str(path), document=text))
        self.runs.expect(run_id, service.id, "format", service.label, settings)
        return self.host.wait(run_id)

    def require_document(self) -> Any:
        return self.documents.require()

    # -- the plugin-folder watcher ----------------------------------------------------------

    def _plugin_fingerprint(self) -> tuple[Any, ...]:
        """mtimes of every root, plugin folder and file one level down: cheap, and catches edits."""
        items: list[tuple[str, int, int]] = []
        for root in self.registry.roots:
            path = Path(root.path)
            try:
                entries = list(path.iterdir())
                items.append((str(path), path.stat().st_mtime_ns, len(entries)))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat()
                    items.append((str(entry), st.st_mtime_ns, st.st_size))
                    if entry.is_dir():
                        for child in entry.iterdir():
                            cst = child.stat()
                            items.append((str(child), cst.st_mtime_ns, cst.st_size))
                except OSError:
                    continue
        return tuple(sorted(items))

    async def _watch_plugins(self) -> None:
        while True:
            await asyncio.sleep(self.config.watch_interval)
            try:
                current = await asyncio.to_thread(self._plugin_fingerprint)
                if current != self._fingerprint:
                    self._fingerprint = current
                    await asyncio.to_thread(self.reload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a half-written plugin.json must not stop the watcher
                self.hub.emit("WebWatcherError", {"error": str(exc)})

    # -- machine ----------------------------------------------------------------------------

    @property
    def machine(self) -> Any:
        """The machine this dashboard shows (None until one was connected)."""
        return self._machine

    @property
    def machine_url(self) -> str:
        machine = self._machine
        return str(machine.url) if machine is not None else str(getattr(self.host, "machine_url", ""))

    def connect_machine(self, url: str) -> Any:
        """Connect (through the host, so automation scripts drive the same machine) and show it."""
        machines = getattr(self.host, "machines", None)
        current = self._machine
        if current is not None and current.url != url and str(getattr(current.state, "value", current.state)) not in (
                "disconnected", "error"):
            current.disconnect()  # one machine at a time on the dashboard
        if machines is not None:
            machine = machines.machine(url)  # connects; raises MachineError naming the problem
        else:
            machine = current
            if machine is None:
                raise NotConnectedError("machine: this host has no machine")
            machine.url = url
            machine.connect()
        self.host.machine_url = url  # the runs of automation scripts go to this machine now
        if machine is not self._machine:
            self._machine = machine
            self._watch_machine()
        return machine

    def _watch_machine(self) -> None:
        machine = self.machine
        if machine is None or id(machine) in self._watched:
            return
        add = getattr(machine, "add_line_listener", None)
        if callable(add):
            self._watched.add(id(machine))
            remove = add(self._on_line)
            if callable(remove):
                self._unsubscribe.append(remove)

    def _on_line(self, direction: str, line: str) -> None:
        self.terminal.add(direction, line)

    async def _sample_temperatures(self) -> None:
        while True:
            try:
                machine = self.machine
                temps = getattr(machine, "temperatures", None) if machine is not None else None
                if callable(temps):
                    temps = temps()
                if temps:
                    self.temperatures.append((time.time(), _plain(temps)))
            except Exception:  # a sampler hiccup must not end the chart
                pass
            await asyncio.sleep(self.config.sample_interval)


_STATE_OF_OUTCOME = {None: "running", "": "running"}


def run_record_json(record: Any) -> dict[str, Any]:
    """A history record (the runtime's own shape) as the dashboard's RunOut."""
    data = _plain(record)
    if not isinstance(data, dict):
        data = {"id": str(record)}
    outcome = data.get("outcome") or data.get("state")
    log = []
    for item in data.get("log") or data.get("log_records") or []:
        if isinstance(item, dict):
            log.append({"level": str(item.get("level", "INFO")), "message": str(item.get("message", "")),
                        "time": None if item.get("time") is None else str(item.get("time"))})
    history = [h if isinstance(h, dict) else {"status": h} for h in data.get("status_history") or []]
    return {
        "id": str(data.get("id") or data.get("run_id")),
        "service": str(data.get("service") or data.get("service_id") or ""),
        "kind": str(data.get("kind") or ""),
        "title": str(data.get("title") or data.get("label") or data.get("service_id") or ""),
        "state": _STATE_OF_OUTCOME.get(outcome, str(outcome)),
        "status": history[-1].get("status") if history else None,
        "status_history": history,
        "settings": data.get("settings") or {},
        "result": data.get("result"),
        "error": _text(data.get("error") or data.get("failure_reason")),
        "log": log,
        "started": _text(data.get("started_at") or data.get("started")),
        "ended": _text(data.get("ended_at") or data.get("ended")),
        "direction": data.get("direction"),
        "messages": [m for m in data.get("messages") or [] if isinstance(m, dict)],
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """Dataclasses and objects with to_json()/_asdict() become plain JSON values."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "_asdict"):
        return dict(value._asdict())
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
