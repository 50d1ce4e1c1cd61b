"""The host side of a run: validate, hand the job to a worker, serve its calls, judge the outcome.

`Runner.prepare` resolves and validates settings before any process is involved (a bad value
is a SettingsError: exit 2, nothing runs). `Runner.start` gives the job to a warm worker and
drives it from one host thread per run, so every event of a run is published in order from
that thread. Cancel and timeout kill the worker (SIGTERM, SIGKILL after 2 s) from any thread.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait as wait_ready
from pathlib import Path
from typing import Any

from scriptdeck.errors import AlreadyRunningError, MachineError, UnknownServiceError, UserError
from scriptdeck.plugins.model import Plugin, Service, ServiceKind
from scriptdeck.runtime import events as ev
from scriptdeck.runtime.gcode_recorder import RunPort
from scriptdeck.runtime.history import History
from scriptdeck.runtime.pool import WorkerPool, WorkerProcess
from scriptdeck.runtime.protocol import Job, Outcome
from scriptdeck.runtime.results import RunResult
from scriptdeck.runtime.supervise import Judge
from scriptdeck.runtime.ui import FutureWindow, ImportExportCollector, Prompt, RecordingWindow, Window
from scriptdeck.settings.store import SettingsStore

DEFAULT_TIMEOUT = {"action": 60.0, "format": 60.0, "automation": None}
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL

# (machine_url, owner) -> a printer port holding the machine's lease, or None for the recorder.
PortFactory = Callable[[str, str], Any]


@dataclass
class RunRequest:
    """A validated run, ready to start. Built by `Runner.prepare`."""

    run_id: str
    plugin: Plugin
    service: Service
    job: Job
    settings_key: str
    window: Window
    timeout: float | None
    machine: str
    target_file: Path | None = None  # formats saving: the file replaced on success
    warnings: list[str] = field(default_factory=list)


class ActiveRun:
    """Everything the host holds about a run in progress."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.lock = threading.Lock()
        self.abort_reason: str | None = None  # "cancel" | "timeout"
        self.proc: WorkerProcess | None = None
        self.port: RunPort | None = None
        self.wake_r, self.wake_w = os.pipe()
        self.done = threading.Event()
        self.result: RunResult | None = None
        self.thread: threading.Thread | None = None
        self.import_export = ImportExportCollector()
        self.on_done: Callable[[RunResult], None] | None = None

    def wake(self) -> None:
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass


class Runner:
    """Runs services in workers; one instance per host."""

    def __init__(self, store: SettingsStore, history: History, bus: ev.EventBus, *,
                 pool: WorkerPool | None = None, port_factory: PortFactory | None = None) -> None:
        self.store = store
        self.history = history
        self.events = bus
        self.pool = pool or WorkerPool()
        self.port_factory = port_factory
        self._lock = threading.Lock()
        self._active: dict[str, ActiveRun] = {}
        self._automation: dict[str, ActiveRun] = {}  # machine url -> its running automation script
        self._finished: OrderedDict[str, RunResult] = OrderedDict()
        self._threads: list[threading.Thread] = []  # run threads, joined by close() (they dispose workers)

    # -- preparing ---------------------------------------------------------------------------------

    def prepare(
        self,
        plugin: Plugin,
        service: Service,
        *,
        settings: Mapping[str, Any] | None = None,
        document_text: str | None = None,
        direction: str | None = None,
        file: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        window: Window | None = None,
        use_last_used: bool = True,
        machine: str = "virtual://",
    ) -> RunRequest:
        """Resolve and validate everything a run needs; raises UserError (nothing has started)."""
        kind = str(service.kind)
        target_file: Path | None = None
        file_path = filename = None
        if service.kind == ServiceKind.FORMAT:
            direction = direction or ("open" if service.can_open else "save")
            ref = service.open if direction == "open" else service.save if direction == "save" else None
            if ref is None:
                raise UserError(f"{service.id}: this format cannot {direction!r} (it can: "
                                f"{', '.join(d for d in ('open', 'save') if getattr(service, 'can_' + d))})")
            if file is None:
                raise UserError(f"{service.id}: a format run needs a file to {direction}")
            path = Path(file).expanduser().absolute()
            filename = str(path)
            if direction == "open":
                if not path.is_file():
                    raise UserError(f"{path}: no such file")
                file_path = str(path)
                document_text = ""
            else:
                if not path.parent.is_dir():
                    raise UserError(f"{path.parent}: no such directory")
                target_file = path
        else:
            if direction is not None:
                raise UserError(f"{service.id}: only format services take a direction")
            ref = service.script
        if ref is None:
            raise UnknownServiceError(f"{service.id}: the service has no script")
        schema = service.settings_for(direction)
        key = service.settings_key(direction)
        stored = self.store.values(key)
        if service.kind != ServiceKind.AUTOMATION and use_last_used:
            stored = {**stored, **self.store.last_used(key)}
        values, warnings = schema.resolve(stored, settings or {})
        if timeout is None:
            timeout = DEFAULT_TIMEOUT[kind]
        elif timeout <= 0:
            timeout = None
        folder = plugin.path if plugin.kind == "manifest" else plugin.path.parent
        module_path = ref.path or folder.joinpath(*ref.module.split(".")).with_suffix(".py")
        run_id = uuid.uuid4().hex
        job = Job(
            run_id=run_id, kind=kind, service_id=service.id, plugin_id=plugin.id,  # type: ignore[arg-type]
            plugin_root=str(folder), module=ref.module, module_path=str(module_path), function=ref.function,
            settings=values, title=service.label, document_text=document_text, direction=direction,
            file_path=file_path, filename=filename, auto_open=service.auto_open,
        )
        return RunRequest(run_id, plugin, service, job, key, window or RecordingWindow(), timeout, machine,
                          target_file, warnings)

    # -- running -----------------------------------------------------------------------------------

    def start(self, request: RunRequest, on_done: Callable[[RunResult], None] | None = None) -> str:
        """Start a prepared run in the background; returns its run id.

        `on_done(result)` is called in the run's thread after its last event, before `wait` returns.
        """
        run = ActiveRun(request)
        run.on_done = on_done
        service = request.service
        with self._lock:
            if service.kind == ServiceKind.AUTOMATION:
                running = self._automation.get(request.machine)
                if running is not None:
                    other = running.request.service
                    raise AlreadyRunningError(
                        f"cannot start {service.label!r}: the automation script {other.label!r} ({other.id}) "
                        f"is running on {request.machine}"
                    )
                self._automation[request.machine] = run
            self._active[request.run_id] = run
        if service.kind != ServiceKind.AUTOMATION:
            known = {k: v for k, v in request.job.settings.items() if service.settings_for(request.job.direction).get(k)}
            self.store.remember(request.settings_key, known)
        run.thread = threading.Thread(target=self._drive, args=(run,), name=f"run-{request.run_id[:8]}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(run.thread)
        run.thread.start()
        return request.run_id

    def wait(self, run_id: str, timeout: float | None = None) -> RunResult:
        """Block until the run ends; returns its result (TimeoutError if `timeout` passes first)."""
        with self._lock:
            run = self._active.get(run_id)
            finished = self._finished.get(run_id)
        if finished is not None:
            return finished
        if run is None:
            raise UserError(f"no run {run_id!r} in this host")
        if not run.done.wait(timeout):
            raise TimeoutError(f"run {run_id} still running after {timeout} s")
        assert run.result is not None
        return run.result

    def cancel(self, run_id: str) -> bool:
        """Cancel a run in progress; False when it already ended."""
        with self._lock:
            run = self._active.get(run_id)
        if run is None:
            return False
        self._abort(run, "cancel")
        return True

    def answer(self, run_id: str, request_id: str, value: Any) -> bool:
        """Answer a question a plugin asked through a `FutureWindow`."""
        with self._lock:
            run = self._active.get(run_id)
        window = run.request.window if run else None
        return isinstance(window, FutureWindow) and window.answer(request_id, value)

    def active(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def close(self) -> None:
        """Cancel every run, wait for them, stop the spare workers."""
        with self._lock:
            runs = list(self._active.values())
            threads = list(self._threads)
        for run in runs:
            self._abort(run, "cancel")
        for thread in threads:
            thread.join(10)
        self.pool.close()

    def _abort(self, run: ActiveRun, reason: str) -> None:
        with run.lock:
            if run.abort_reason is not None or run.done.is_set():
                return
            run.abort_reason = reason
            proc = run.proc
        if proc is not None:
            proc.terminate()
            killer = threading.Timer(KILL_GRACE, proc.kill)
            killer.daemon = True
            killer.start()
        if run.port is not None:
            run.port.cancel()
        window = run.request.window
        if isinstance(window, FutureWindow):
            window.cancel_all()
        run.wake()

    def _drive(self, run: ActiveRun) -> None:
        request = run.request
        judge = Judge(self, run)
        timer: threading.Timer | None = None
        outcome: Outcome | None = None
        try:
            judge.begin()
            if request.target_file is not None:
                # Save into a temp file beside the target; it replaces the target only on success.
                fd, temp = tempfile.mkstemp(prefix=f".{request.target_file.name}.", suffix=".part",
                                            dir=request.target_file.parent)
                os.close(fd)
                request.job = replace(request.job, file_path=temp)
            if request.service.kind == ServiceKind.AUTOMATION:
                target = self.port_factory(request.machine, request.service.label) if self.port_factory else None
                run.port = RunPort(target)
            proc = self.pool.acquire()
            with run.lock:
                run.proc = proc
                aborted = run.abort_reason is not None
            if aborted:
                proc.terminate()
            else:
                proc.output.attach(judge.output)
                proc.conn.send(("job", request.job))
                if request.timeout is not None:
                    timer = threading.Timer(request.timeout, self._abort, (run, "timeout"))
                    timer.daemon = True
                    timer.start()
                outcome = self._pump(run, proc, judge)
        except MachineError as exc:  # no lease (busy, not connected): the run cannot start
            judge.machine_error(exc)
        except Exception as exc:  # an internal error ends this run only, never the host
            judge.internal_error(exc)
        finally:
            if timer is not None:
                timer.cancel()
            if run.proc is not None:  # the rest of its fds 1 and 2 (all of it when it died), before the end
                run.proc.output.detach()
        try:
            judge.finish(outcome)
            if run.on_done is not None and run.result is not None:
                run.on_done(run.result)
        except Exception as exc:
            judge.internal_error(exc)
        finally:
            with self._lock:
                self._active.pop(request.run_id, None)
                if self._automation.get(request.machine) is run:
                    del self._automation[request.machine]
                if run.result is None:  # finish() itself failed; still report an ended run
                    judge.result.outcome = "error"
                    run.result = judge.result
                self._finished[request.run_id] = run.result
                while len(self._finished) > 200:
                    self._finished.popitem(last=False)
            run.done.set()
            if run.proc is not None:
                run.proc.dispose(KILL_GRACE)
            os.close(run.wake_r)
            os.close(run.wake_w)

    def _pump(self, run: ActiveRun, proc: WorkerProcess, judge: Judge) -> Outcome | None:
        """Serve the worker's messages until its result; None when it died or was aborted."""
        while True:
            ready = wait_ready([proc.conn, proc.sentinel, run.wake_r])
            if run.abort_reason is not None:
                return None
            if proc.conn not in ready and not proc.conn.poll(0):
                return None  # the process ended without a word
            try:
                message = proc.conn.recv()
            except (EOFError, OSError):
                return None
            tag = message[0]
            if tag == "log":  # what the worker wrote to fds 1 and 2 before this record comes first
                proc.output.sync()
            elif tag == "result":
                result: Outcome = message[1]
                return result
            if tag == "call":
                _tag, call_id, target, method, args, kwargs = message
                try:
                    reply = (True, self._serve_call(run, judge, target, method, args, kwargs))
                except Exception as exc:
                    reply = (False, (type(exc).__name__, str(exc)))
                try:
                    proc.conn.send(("reply", call_id, *reply))
                except OSError:
                    return None
            else:
                judge.notify(message)

    def _serve_call(self, run: ActiveRun, judge: Judge, target: str, method: str,
                    args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if target == "port":
            if run.port is None:
                raise RuntimeError("only automation scripts have a printer")
            return run.port.call(method, args, kwargs)
        if target == "window" and method in ("question", "choose_option"):
            if method == "question":
                message, title, default = args
                prompt = Prompt(uuid.uuid4().hex[:12], run.request.run_id, method, message, title, (), default)
            else:
                message, options, default, title = args
                prompt = Prompt(uuid.uuid4().hex[:12], run.request.run_id, method, message, title, tuple(options),
                                default)
            return judge.ask(prompt)
        raise AttributeError(f"no host operation {target}.{method}")


__all__ = ["DEFAULT_TIMEOUT", "ActiveRun", "PortFactory", "RunRequest", "Runner"]
