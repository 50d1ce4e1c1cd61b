"""The worker side of a run: a fresh process that imports one plugin and calls it exactly as the seeds say.

`worker_main` is the process target. It waits for one `Job`, runs it, reports an `Outcome`
and exits — a process never runs two plugins, so no module cache survives a run. Everything
the plugin touches that belongs to the host (window, import_export, logger, g, script_status)
is a proxy that talks to the host over the run's Pipe (see protocol.py).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from scriptdeck import errors
from scriptdeck.runtime import isolation, output
from scriptdeck.runtime.protocol import Job, Outcome, RemoteError

# Modules the forkserver imports once, so each worker starts with them already loaded.
PRELOAD: tuple[str, ...] = (
    "scriptdeck.runtime.worker", "mecode", "scriptdeck.document.gcode", "scriptdeck.machine.mecode_bridge",
)


class Channel:
    """The worker's end of the Pipe. Any thread may notify; calls are serialised (one reply at a time)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._next_id = 0

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._conn.send(message)

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._call_lock:
            self._next_id += 1
            self.send(("call", self._next_id, target, method, args, kwargs))
            _tag, _call_id, ok, value = self._conn.recv()
        if not ok:
            type_name, message = value
            # The host's MachineBusyError etc. reach the script as themselves (scriptdeck.errors).
            known = getattr(errors, type_name, None)
            if isinstance(known, type) and issubclass(known, errors.ScriptdeckError):
                raise known(message)
            raise RemoteError(type_name, message)
        return value


# -- what the plugin holds ---------------------------------------------------------------------


class WindowProxy:
    """The `window` of seed 004: messages go to the host's window; questions wait for its answer."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def warning(self, message: object, title: str = "") -> None:
        self._channel.send(("notify", "window", "warning", (str(message), str(title))))

    def information(self, message: object, title: str = "") -> None:
        self._channel.send(("notify", "window", "information", (str(message), str(title))))

    def error(self, message: object, title: str = "") -> None:
        self._channel.send(("notify", "window", "error", (str(message), str(title))))

    def question(self, message: object, title: str = "", default: bool = True) -> bool:
        """Ask a yes/no question; returns the answer (the default when nobody can answer)."""
        return bool(self._channel.call("window", "question", str(message), str(title), bool(default)))

    def choose_option(self, label: object, options: list[Any], default: int = 0, title: str = "") -> int:
        """Ask to pick one of `options`; returns its index (-1 when the user dismissed the question)."""
        return int(self._channel.call("window", "choose_option", str(label), [str(o) for o in options], int(default), str(title)))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"scriptdeck's window has no {name!r} (available: warning, information, error, question, choose_option)"
        )


class ImportExportProxy:
    """The `import_export` of a format run; any `error` makes the operation fail."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def _notify(self, method: str, *args: Any) -> None:
        self._channel.send(("notify", "import_export", method, args))

    def error(self, message: object) -> None:
        self._notify("error", str(message))

    def warning(self, message: object) -> None:
        self._notify("warning", str(message))

    def information(self, message: object) -> None:
        self._notify("information", str(message))

    def progress_max_changed(self, maximum: int) -> None:
        self._notify("progress_max_changed", int(maximum))

    def progress(self, value: int) -> None:
        self._notify("progress", int(value))


class RpcPort:
    """The printer object behind `g._p`: each operation runs on the host's machine (or recorder)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def sendline(self, line: str) -> None:
        self._channel.call("port", "sendline", str(line))

    def get_response(self, line: str, timeout: float = 0) -> str:
        return str(self._channel.call("port", "get_response", str(line), timeout=timeout))

    def current_position(self) -> dict[str, float]:
        return dict(self._channel.call("port", "current_position"))

    def reset_linenumber(self, number: int = 0) -> None:
        self._channel.call("port", "reset_linenumber", number)

    def disconnect(self, wait: bool = False) -> None:
        # Scripts call g.teardown(); the host keeps the machine connected and only drains it.
        self._channel.call("port", "disconnect", wait)

    @property
    def paused(self) -> bool:
        return bool(self._channel.call("port", "get", "paused"))

    @paused.setter
    def paused(self, value: bool) -> None:
        self._channel.call("port", "set", "paused", bool(value))

    @property
    def temp_readings(self) -> list[Any]:
        return list(self._channel.call("port", "get", "temp_readings"))

    @property
    def responses(self) -> list[str]:
        return list(self._channel.call("port", "get", "responses"))


class DeferredFile:
    """The file of a format with `auto_open: false`: nothing is open until the plugin calls `open(mode)`."""

    def __init__(self, path: str) -> None:
        self.name = path
        self._file: IO[Any] | None = None

    def open(self, mode: str = "rb") -> DeferredFile:
        if self._file is not None:
            raise ValueError(f"{self.name}: already open")
        self._file = open(self.name, mode)
        return self

    def _open_file(self) -> IO[Any]:
        if self._file is None:
            raise ValueError(f"{self.name}: not open yet; call file.open('rb') or file.open('wb') first")
        return self._file

    def read(self, size: int = -1) -> Any:
        return self._open_file().read(size)

    def readline(self, size: int = -1) -> Any:
        return self._open_file().readline(size)

    def write(self, data: Any) -> int:
        return self._open_file().write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._open_file().seek(offset, whence)

    def tell(self) -> int:
        return self._open_file().tell()

    def flush(self) -> None:
        self._open_file().flush()

    def __iter__(self) -> Any:
        return iter(self._open_file())

    @property
    def closed(self) -> bool:
        return self._file is None or self._file.closed

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> DeferredFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- logging and output --------------------------------------------------------------------------


class RpcLogHandler(logging.Handler):
    """Streams every record (level, time, message, exception text) to the host."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.DEBUG)
        self._channel = channel
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc_text = self._formatter.formatException(record.exc_info) if record.exc_info else record.exc_text
            self._channel.send(("log", {
                "level": record.levelname,
                "levelno": record.levelno,
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "message": record.getMessage(),
                "exc_text": exc_text,
                "logger": record.name,
            }))
        except Exception:
            self.handleError(record)


class _LogWriter(io.TextIOBase):
    """print() in plugin code becomes log records (stdout belongs to the host's --json-events)."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger = logger
        self._level = level
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._logger.log(self._level, line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._logger.log(self._level, self._buffer)
            self._buffer = ""


def _capture_output(channel: Channel) -> None:
    # Output written below Python (C extensions, subprocesses) goes to fds 1 and 2: the host's
    # pipes (output.py), which turn it into records of the same two loggers.
    sys.stdout = _LogWriter(logging.getLogger("stdout"), logging.INFO)
    sys.stderr = _LogWriter(logging.getLogger("stderr"), logging.WARNING)


def _json_safe(value: Any) -> Any:
    """A plugin's values as JSON (what gets persisted and put in events); odd objects become text."""
    return json.loads(json.dumps(value, default=str))


# -- script_status ------------------------------------------------------------------------------


class StatusReporter:
    """Sends each new non-None `script_status` once; fed by a setattr hook and a 20 ms watcher."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._lock = threading.Lock()
        self._last: Any = None
        self.target: Any = None

    def seen(self, value: Any) -> None:
        with self._lock:
            if value is None or value == self._last:
                self._last = value
                return
            self._last = value
            safe = value if isinstance(value, str | int | float | bool) else str(value)
            self._channel.send(("status", safe))

    def watch(self, stop: threading.Event) -> None:
        # The setattr hook catches direct assignments at once; this catches a property or an
        # object whose class could not be subclassed, within 20 ms.
        while not stop.wait(0.02):
            if self.target is not None:
                self.seen(getattr(self.target, "script_status", None))


def watched_class(cls: type, reporter: StatusReporter) -> type:
    """A subclass of the script object class reporting every `script_status` assignment."""

    base_setattr: Any = cls.__setattr__

    def __setattr__(self: Any, name: str, value: Any) -> None:
        base_setattr(self, name, value)
        if name == "script_status":
            reporter.seen(value)

    try:
        return type(cls.__name__, (cls,), {"__setattr__": __setattr__, "__qualname__": cls.__qualname__,
                                            "__module__": cls.__module__})
    except TypeError:  # a final class, an odd metaclass: the watcher thread still sees changes
        return cls


# -- running the job ----------------------------------------------------------------------------


def _document(text: str | None) -> Any:
    try:
        from scriptdeck.document.gcode import GcodeDocument
    except ImportError:
        return _TextDocument(text or "")
    return GcodeDocument.from_text(text or "")


class _TextDocument:
    """Stand-in until scriptdeck.document.gcode exists: the program's text and its lines."""

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def _document_text(document: Any) -> str:
    return str(document.text)


def build_g(port: RpcPort) -> Any:
    """A real mecode.G whose printer is `port` (the machine layer's bridge when it exists)."""
    try:
        bridge: Any = importlib.import_module("scriptdeck.machine.mecode_bridge")
    except ImportError:
        bridge = None
    builder: Callable[[Any], Any] | None = getattr(bridge, "make_g", None)
    if builder is not None:
        return builder(port)
    from mecode import G

    g = G(direct_write=True, direct_write_mode="serial", setup=False, print_lines=False)
    g._p = port
    return g


def _run_automation(job: Job, target: Any, channel: Channel) -> Any:
    logger = logging.getLogger(f"scriptdeck.script.{job.plugin_id}")
    logger.setLevel(logging.DEBUG)
    reporter = StatusReporter(channel)
    stop = threading.Event()
    watcher = threading.Thread(target=reporter.watch, args=(stop,), name="script_status", daemon=True)
    watcher.start()
    try:
        cls = watched_class(target, reporter) if isinstance(target, type) else target
        obj = cls(build_g(RpcPort(channel)), logger, dict(job.settings))
        reporter.target = obj
        reporter.seen(getattr(obj, "script_status", None))
        result = obj.run()
        reporter.seen(getattr(obj, "script_status", None))
    finally:
        stop.set()
    if isinstance(result, tuple | list):
        result = list(result)
    return _json_safe(result)


def _run_format(job: Job, fn: Callable[..., Any], window: WindowProxy, document: Any, channel: Channel) -> None:
    assert job.file_path is not None
    mode = "rb" if job.direction == "open" else "wb"
    file: Any = open(job.file_path, mode) if job.auto_open else DeferredFile(job.file_path)
    try:
        fn(window, document, file, job.filename or job.file_path, ImportExportProxy(channel), dict(job.settings))
    finally:
        file.close()


def execute(job: Job, channel: Channel) -> Outcome:
    """Import the plugin's module and call it; every exception becomes an error Outcome."""
    try:
        module = isolation.load_module(job.plugin_id, Path(job.plugin_root), job.module, Path(job.module_path))
        try:
            target = getattr(module, job.function)
        except AttributeError:
            raise AttributeError(f"{job.module_path}: no {job.function!r} in module {job.module!r}") from None
        if job.kind == "automation":
            return Outcome(True, value=_run_automation(job, target, channel))
        if job.kind == "commands":
            return Outcome(True, value=_json_safe(target(dict(job.settings))))
        window = WindowProxy(channel)
        document = _document(job.document_text)
        if job.kind == "action":
            target(window, document, dict(job.settings))
        else:
            _run_format(job, target, window, document, channel)
        text = _document_text(document)
        changed = text != (job.document_text or "")
        return Outcome(True, document_text=text if changed else None)
    except BaseException as exc:  # SystemExit from a plugin is an error too, not a clean exit
        logging.getLogger(f"scriptdeck.script.{job.plugin_id}").error(
            "%s raised %s", job.function, type(exc).__name__, exc_info=exc
        )
        return Outcome(False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())


def worker_main(conn: Connection, stdout_fd: int, stderr_fd: int, crash_fd: int) -> None:
    """Process target: wait for one job, run it, report, exit (never returns normally).

    The fds are the writing ends of the host's output pipes (output.py): fd 1, fd 2, faulthandler's.
    """
    # Ctrl-C reaches the whole process group; cancelling is the host's decision (SIGTERM).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.dont_write_bytecode = True
    output.redirect(stdout_fd, stderr_fd, crash_fd)  # while still a spare: not on the run's path
    try:
        message = conn.recv()
    except (EOFError, OSError):  # a spare worker the host no longer needs
        os._exit(0)
    job: Job = message[1]
    channel = Channel(conn)
    handler = RpcLogHandler(channel)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    _capture_output(channel)
    outcome = execute(job, channel)
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        output.flush()  # before the result: the host reads the pipes up to it
        channel.send(("result", outcome))
    except Exception as exc:  # e.g. an unpicklable value: report that instead
        channel.send(("result", Outcome(False, error=f"cannot report the result: {exc}")))
    conn.close()
    # Skip interpreter shutdown: a plugin's leftover non-daemon threads must not keep us alive.
    os._exit(0)
