"""The host side of an automation script's `g`: where its printer operations go.

Every run gets a `RunPort`, which records each line sent into the run (the run history keeps
it) and forwards to a real printer port when one is connected (the machine layer's lease,
duck-typed like mecode's `Printer`), or answers like an idle printer when none is
(`RecordingPort`: `ok` to everything, position at the origin).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class PrinterPort(Protocol):
    """What `g._p` needs (mecode's Printer surface); the machine layer's lease provides it."""

    def sendline(self, line: str) -> None: ...

    def get_response(self, line: str, timeout: float = 0) -> str: ...

    def current_position(self) -> dict[str, float]: ...

    def reset_linenumber(self, number: int = 0) -> None: ...


class RecordingPort:
    """A printer that is not there: accepts everything, answers `ok`."""

    def __init__(self) -> None:
        self.paused = False
        self.temp_readings: list[Any] = []
        self.responses: list[str] = []

    def sendline(self, line: str) -> None:
        return None

    def get_response(self, line: str, timeout: float = 0) -> str:
        self.responses.append("ok\n")
        return "ok\n"

    def current_position(self) -> dict[str, float]:
        return {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}

    def reset_linenumber(self, number: int = 0) -> None:
        return None


class RunPort:
    """One run's view of the printer: records lines, forwards to `target`, refuses after the run ends."""

    def __init__(self, target: Any | None = None) -> None:
        self.target: Any = target if target is not None else RecordingPort()
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._closed = False

    def _record(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Dispatch one operation from the worker's `RpcPort`."""
        if method == "sendline":
            self._record(str(args[0]))
            return self.target.sendline(*args)
        if method == "get_response":
            self._record(str(args[0]))
            return self.target.get_response(str(args[0]), float(kwargs.get("timeout") or 0))
        if method == "current_position":
            return dict(self.target.current_position())
        if method == "reset_linenumber":
            return self.target.reset_linenumber(*args)
        if method == "disconnect":
            # g.teardown() in a script: drain if asked, but the machine stays connected for the host.
            if args and args[0]:
                self.wait_for_buffer()
            return None
        if method == "set" and args[0] == "paused":
            self.target.paused = bool(args[1])
            return None
        if method == "get":
            name = str(args[0])
            if name not in ("paused", "temp_readings", "responses"):
                raise AttributeError(f"the printer port has no {name!r}")
            value = getattr(self.target, name, None)
            return list(value) if isinstance(value, list | tuple) else value
        raise AttributeError(f"the printer port has no operation {method!r}")

    def wait_for_buffer(self) -> None:
        """Wait until the machine executed everything sent (M400 acknowledged)."""
        self._record("M400")
        self.target.get_response("M400")

    def cancel(self) -> None:
        """The run was cancelled: wake any caller blocked on the machine (the lease does the abort)."""
        canceller = getattr(self.target, "cancel", None)
        if callable(canceller):
            canceller()
