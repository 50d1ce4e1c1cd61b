"""`scriptdeck.Host`: the Python API — plugins found, settings stored, services run, events announced.

The CLI and the web dashboard are both built on this class::

    from scriptdeck import Host

    with Host(plugin_paths=["./my-plugins"]) as host:
        result = host.run("HelloWorld", settings={"greeting": "hi"})
        print(result.outcome, [m["message"] for m in result.messages])

Blocking use: `run()`. Non-blocking use (a web request starts a run, events report its
progress, another request cancels it or answers its questions): `start()`, `wait()`,
`cancel()`, `answer()`, and `events` (`subscribe()` or ``async for e in host.events.stream()``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scriptdeck.errors import MachineBusyError, MachineError, UserError
from scriptdeck.machine.machine import Machine
from scriptdeck.plugins.cache import DiscoveryCache
from scriptdeck.plugins.model import ServiceKind
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.searchpath import data_dir as resolve_data_dir
from scriptdeck.plugins.searchpath import search_path
from scriptdeck.runtime import events as ev
from scriptdeck.runtime.commands import connect_commands, service_commands
from scriptdeck.runtime.history import History
from scriptdeck.runtime.machines import MachinePorts
from scriptdeck.runtime.pool import WorkerPool
from scriptdeck.runtime.results import RunResult
from scriptdeck.runtime.runner import PortFactory, Runner, RunRequest
from scriptdeck.runtime.ui import FutureWindow, RecordingWindow, Window
from scriptdeck.settings.store import DB_NAME, SettingsStore

RESEND_WAIT = 5.0  # seconds to wait for a lease to end before re-sending a script's commands
DocumentLike = Any  # a GcodeDocument, G-code text, its bytes, or None


def check_timeout(value: object, name: str = "timeout") -> float | None:
    """A run's time limit in seconds, or None for the default; UserError naming `name` otherwise.

    ``check_timeout(-1)`` → *timeout has value -1; expected a number of seconds ≥ 0 (0 = no limit)*.
    """
    if value is None:
        return None
    # bool is an int: True would be a 1 s limit nobody meant
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise UserError(f"{name} has value {value!r}; expected a number of seconds ≥ 0 (0 = no limit)")
    return float(value)


def _document_text(document: DocumentLike) -> str | None:
    if document is None:
        return None
    if isinstance(document, str):
        return document
    from scriptdeck.document.gcode import GcodeDocument
    from scriptdeck.document.textfile import gcode_bytes

    if isinstance(document, bytes | bytearray):
        # Checked as a file's bytes are: a UTF-16 or binary job is refused, not sent to a plugin as mojibake.
        return GcodeDocument.from_bytes(gcode_bytes(bytes(document), "document")).text
    if isinstance(document, GcodeDocument):
        return document.text
    raise UserError(f"document has type {type(document).__name__}; expected a GcodeDocument, G-code text (str), "
                    "its bytes, or None")


class Host:
    """One scriptdeck host: registry + settings store + run history + event bus + runner.

    Parameters:
        data_dir: where `scriptdeck.sqlite3`, `plugins/` and `scripts/` live (default: `$SCRIPTDECK_HOME`,
            else the user data dir).
        plugin_paths: extra plugin roots, searched first.
        include_examples: also offer the shipped example plugins.
        machine_url: the machine automation scripts drive (`virtual://`, a serial URL...).
        port_factory: advanced/tests — `(machine_url, owner) -> printer port` for `g`; default: the
            machine at the URL, connected on first use, leased for the run (`record://`: no machine,
            the lines are only recorded and every command answers `ok`).
        warm: start a spare worker process now, so the first run starts quickly.
        abort_lines: G-code sent after the quick-stop (M410) when a run or print is cancelled,
            e.g. `["M104 S0", "M140 S0"]` to turn the heaters off.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        plugin_paths: Sequence[str | os.PathLike[str]] = (),
        include_examples: bool = True,
        machine_url: str = "virtual://",
        *,
        port_factory: PortFactory | None = None,
        warm: bool = True,
        abort_lines: Sequence[str] = (),
    ) -> None:
        self.data_dir: Path = resolve_data_dir(data_dir)
        self.plugin_paths = list(plugin_paths)
        self.include_examples = include_examples
        self.machine_url = machine_url
        db = self.data_dir / DB_NAME
        self.store = SettingsStore(db)
        self.history = History(db)
        self.history.mark_interrupted()
        self.events = ev.EventBus()
        self._registry_lock = threading.Lock()
        self.registry = self._discover()
        self._pool = WorkerPool()
        self.machines = MachinePorts(on_connect=self._connect_commands, abort_lines=abort_lines)
        self._runner = Runner(self.store, self.history, self.events, pool=self._pool,
                              port_factory=port_factory or self.machines)
        self._closed = False
        self.events.subscribe(self._handle_settings_saved, [ev.SETTINGS_SAVED])
        if warm:
            self._pool.warm_up()

    # -- plugins -----------------------------------------------------------------------------------

    def _discover(self) -> Registry:
        roots = search_path(self.plugin_paths, self.data_dir, include_examples=self.include_examples)
        cache = DiscoveryCache(self.data_dir / "cache" / "discovery.pickle")
        return Registry.discover(roots, self.store.disabled_ids(), cache)

    def reload(self) -> Registry:
        """Discover plugins again (after files changed, or enable/disable); fires `PluginsChanged`."""
        with self._registry_lock:
            self.registry = self._discover()
        self.events.publish(ev.PLUGINS_CHANGED, {
            "plugins": [p.id for p in self.registry.winners()],
            "services": [s.id for s in self.registry.services()],
        })
        return self.registry

    def _connect_commands(self) -> list[str]:
        # Sent when a machine connects: every enabled automation script's __script_commands__
        # (settings), computed in a worker; a script whose commands fail is skipped with a warning.
        lines, warnings = connect_commands(self._pool, self.store, self.registry)
        for warning in warnings:
            self.events.publish(ev.MACHINE_WARNING, {"message": warning})
        return lines

    def save_settings(
        self, service_ref: str, values: Mapping[str, Any], direction: str | None = None
    ) -> dict[str, Any]:
        """Validate and store a service's settings (all or nothing); fires `SettingsSaved`.

        For an automation script with `__script_commands__`, the commands are sent again to
        every connected machine (as the original host did after its settings dialog).
        """
        _, service = self.registry.find_service(service_ref)
        schema = service.settings_for(direction)
        typed = schema.coerce_values(values)  # raises SettingsError naming the field; nothing stored
        key = service.settings_key(direction)
        self.store.update(key, typed)
        self.events.publish(ev.SETTINGS_SAVED, {"id": service.id, "key": key, "values": typed})
        return typed

    def _handle_settings_saved(self, envelope: ev.Envelope) -> None:
        service_id = envelope["payload"].get("id")
        if not self.machines.connected():
            return
        threading.Thread(target=self._resend_commands, args=(service_id,), name="resend-commands",
                         daemon=True).start()

    def _resend_commands(self, service_id: str) -> None:
        try:
            plugin, service = self.registry.find_service(service_id)
            if service.kind != ServiceKind.AUTOMATION or (service.commands is None and not service.commands_literal):
                return
            lines = service_commands(self._pool, self.store, plugin, service)
        except Exception as exc:
            self.events.publish(ev.MACHINE_WARNING, {"message": f"{service_id}: commands not sent: {exc}"})
            return
        for machine in self.machines.connected():
            # The script that saved its values may still hold the lease for a moment.
            deadline = time.monotonic() + RESEND_WAIT
            while True:
                try:
                    machine.send_host_commands(lines, owner=f"settings of {service.label}")
                    break
                except MachineBusyError as exc:
                    if time.monotonic() > deadline:
                        self.events.publish(ev.MACHINE_WARNING, {"message": f"{service.id}: commands not sent: {exc}"})
                        break
                    time.sleep(0.1)  # a bounded wait for a lease to end, not a protocol poll
                except MachineError as exc:
                    self.events.publish(ev.MACHINE_WARNING, {"message": f"{service.id}: commands not sent: {exc}"})
                    break

    def machine(self, url: str | None = None) -> Machine:
        """The `Machine` at `url` (default: this host's), connected — the one automation runs lease."""
        return self.machines.machine(url or self.machine_url)

    # -- runs --------------------------------------------------------------------------------------

    def prepare(
        self,
        service_ref: str,
        *,
        settings: Mapping[str, Any] | None = None,
        document: DocumentLike = None,
        direction: str | None = None,
        file: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        window: Window | None = None,
        use_last_used: bool = True,
        machine: str | None = None,
    ) -> RunRequest:
        """Validate a run without starting it (raises UserError: unknown service, bad setting, bad timeout...)."""
        plugin, service = self.registry.find_service(service_ref)
        return self._runner.prepare(
            plugin, service, settings=settings, document_text=_document_text(document), direction=direction,
            file=file, timeout=check_timeout(timeout), window=window, use_last_used=use_last_used,
            machine=machine or self.machine_url,
        )

    def start(self, service_ref: str, *, window: Window | None = None, **options: Any) -> str:
        """Start a run in the background and return its run id (options as for `run`).

        The default window is a `FutureWindow`: a plugin's question waits (a `RunPrompt` event
        announces it) until `answer()` is called or the run is cancelled.
        Raises UserError for bad input and AlreadyRunningError when the machine is busy with
        another automation script — in both cases nothing started.
        """
        request = self.prepare(service_ref, window=window or FutureWindow(), **options)
        document = options.get("document")
        on_done = None
        if document is not None and hasattr(document, "assign"):
            label = request.service.label

            def on_done(result: RunResult) -> None:
                # The caller's GcodeDocument gets the plugin's change as one undoable step.
                if result.document_text is not None:
                    document.assign(result.document_text, label)

        return self._runner.start(request, on_done=on_done)

    def run(
        self,
        service_ref: str,
        *,
        settings: Mapping[str, Any] | None = None,
        document: DocumentLike = None,
        direction: str | None = None,
        file: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        window: Window | None = None,
        use_last_used: bool = True,
        machine: str | None = None,
    ) -> RunResult:
        """Run a service and wait for it; returns its `RunResult` (it does not raise for a failed run).

        - `settings`: per-run values over the stored (and, for actions/formats, last-used) ones;
          text values are parsed as on the command line.
        - `document`: the G-code job for actions and format saves: a `GcodeDocument` (updated in
          place, as one undoable step; the new text is also in `result.document_text`), G-code text,
          or its bytes (refused, as a file is, when they are not text).
        - `direction` and `file`: for formats, "open" (read `file`) or "save" (write `file`).
        - `timeout`: seconds; default none for automation, 60 for actions and formats; 0 = none.
        - `window`: where messages and questions go (default: a `RecordingWindow` answering defaults).
        - `use_last_used=False`: start from the declared defaults (`--defaults`).
        """
        run_id = self.start(
            service_ref, settings=settings, document=document, direction=direction, file=file, timeout=timeout,
            window=window or RecordingWindow(), use_last_used=use_last_used, machine=machine,
        )
        return self.wait(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> RunResult:
        """Wait for a run started with `start()`; the result stays available after it ended."""
        return self._runner.wait(run_id, timeout)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run: its worker is killed (SIGTERM, SIGKILL after 2 s); it ends as cancelled."""
        return self._runner.cancel(run_id)

    def answer(self, run_id: str, request_id: str, value: Any) -> bool:
        """Answer a `RunPrompt` (question: bool; choose_option: the option's index)."""
        return self._runner.answer(run_id, request_id, value)

    def active_runs(self) -> list[str]:
        """Run ids still running."""
        return self._runner.active()

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel runs still going, stop the worker processes, close the database."""
        if self._closed:
            return
        self._closed = True
        self._runner.close()
        self.machines.close()
        self.history.close()
        self.store.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
