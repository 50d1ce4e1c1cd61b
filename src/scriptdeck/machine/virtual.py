"""The ``virtual://`` printer: a Marlin-like firmware simulator, in-process or on a pseudo-terminal.

The model follows Marlin's main loop: an RX ring of ``rx_size`` bytes (overflow is dropped,
as on a real board) feeds a command queue of ``bufsize`` entries; moves need one of
``buffer`` planner slots, which drain every ``move_ms``; while the queue head waits for a
slot, nothing else is read. Replies are ``ok`` (or ``ok N<n> P<p> B<b>`` with ADVANCED_OK)
after a command is executed. ``Firmware`` is pure (bytes in, bytes out, a clock passed in);
``VirtualTransport`` and ``virtual_pty.PtyPrinter`` drive it with a thread.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, fields
from typing import ClassVar

from scriptdeck.errors import NotConnectedError, ProtocolError
from scriptdeck.machine.firmware import Firmware
from scriptdeck.machine.transport import QueueTransport, split_url

__all__ = ["Fault", "Firmware", "VirtualOptions", "VirtualTransport"]

FAULT_KINDS = ("checksum", "drop", "stall", "disconnect", "halt", "garbage")


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: ``kind@N`` fires on line N's first arrival, ``kind@*M`` on every M-th line's."""

    kind: str
    line: int | None = None
    every: int | None = None

    def matches(self, n: int) -> bool:
        if self.line is not None:
            return n == self.line
        return self.every is not None and n > 0 and n % self.every == 0

    @classmethod
    def parse(cls, spec: str) -> Fault:
        kind, sep, rest = spec.partition("@")
        every = rest.startswith("*")
        rest = rest.lstrip("*")
        if kind not in FAULT_KINDS or not sep or not rest.isdigit() or (every and int(rest) == 0):
            raise ProtocolError(
                f"virtual:// option 'faults' has item {spec!r}; expected KIND@LINE or KIND@*EVERY "
                f"with KIND one of {', '.join(FAULT_KINDS)}"
            )
        return cls(kind, every=int(rest)) if every else cls(kind, line=int(rest))


@dataclass(slots=True)
class VirtualOptions:
    """Query options of ``virtual://`` (all optional)."""

    buffer: int = 16  # planner slots (0 = no planner: moves complete at once)
    bufsize: int = 4  # Marlin's BUFSIZE: the command queue
    rx_size: int = 0  # RX ring in bytes; 0 = unlimited
    move_ms: float = 0.0  # time each planned move takes
    advanced_ok: bool = False  # reply "ok N<n> P<planner free> B<queue free>"
    heat_rate: float = 50.0  # °C per second a heater moves towards its target
    ambient: float = 21.0
    busy_ms: float = 2000.0  # "echo:busy: processing" interval while blocked
    report_ms: float = 1000.0  # temperature report interval while M109/M190 wait
    wait_ms: float = 0.0  # "wait" after this long idle (0 = never)
    start: bool = True  # greet with "start" when opened
    # mecode's Printer.connect() waits for a reply containing "ok" before it sends anything; a
    # Marlin that only says "start" leaves it waiting forever. greet_ok=1 ends the greeting with
    # an "ok" (harmless to hosts that wait for "start" and then sync with M110).
    greet_ok: bool = False
    faults: tuple[Fault, ...] = field(default_factory=tuple)

    _BOOL: ClassVar[frozenset[str]] = frozenset({"advanced_ok", "start", "greet_ok"})
    _FLOAT: ClassVar[frozenset[str]] = frozenset({"move_ms", "heat_rate", "ambient", "busy_ms", "report_ms", "wait_ms"})

    @classmethod
    def from_query(cls, options: dict[str, str]) -> VirtualOptions:
        known = {f.name for f in fields(cls)}
        values: dict[str, object] = {}
        for key, raw in options.items():
            if key not in known:
                raise ProtocolError(f"virtual:// has unknown option {key!r}; known options: {', '.join(sorted(known))}")
            if key == "faults":
                values[key] = tuple(Fault.parse(s) for s in raw.split(",") if s)
            elif key in cls._BOOL:
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
                    raise ProtocolError(f"virtual:// option {key!r} has value {raw!r}; expected 1 or 0")
                values[key] = raw.lower() in ("1", "true", "yes", "on", "")
            else:
                try:
                    number = float(raw) if key in cls._FLOAT else int(raw)
                except ValueError:
                    kind = "number" if key in cls._FLOAT else "int"
                    raise ProtocolError(f"virtual:// option {key!r} has value {raw!r}; not a valid {kind}") from None
                if not math.isfinite(number):  # nan is not < 0: the check below would let it through
                    raise ProtocolError(f"virtual:// option {key!r} has value {raw!r}; must be a finite number")
                if number < 0:
                    raise ProtocolError(f"virtual:// option {key!r} has value {raw!r}; must be ≥ 0")
                values[key] = number
        return cls(**values)  # type: ignore[arg-type]


class VirtualTransport(QueueTransport):
    """The simulator as an in-process transport: writes are processed in the writer's thread
    (no hand-off per line); one daemon thread runs the timed parts (planner, heaters, reports)."""

    def __init__(self, options: VirtualOptions | None = None, description: str = "virtual://") -> None:
        super().__init__()
        self.description = description
        self.options = options or VirtualOptions()
        self.firmware = Firmware(self.options)
        self._wake_at: float | None = None
        with self._cond:
            self.firmware.power_on(time.monotonic())
            self._publish()
        self._thread = threading.Thread(target=self._run, name="virtual-printer", daemon=True)
        self._thread.start()

    @classmethod
    def from_url(cls, url: str) -> VirtualTransport:
        base, options = split_url(url)
        if base.lower() != "virtual://":
            raise ProtocolError(
                f"machine URL {url!r}: virtual:// takes no host or path, got {base[len('virtual://'):]!r}; "
                f"options go in the query, e.g. virtual://?buffer=8"
            )
        return cls(VirtualOptions.from_query(options), description=url)

    # the firmware's side ---------------------------------------------------------------
    def _publish(self) -> None:
        """Move firmware output to the host side; caller holds the lock (or is __init__)."""
        fw = self.firmware
        if fw.out:
            self._out += fw.out
            fw.out.clear()
            self._cond.notify_all()
        if fw.disconnected:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                self._wake_at = self.firmware.step(now)
                self._publish()
                timeout = None if self._wake_at is None else max(0.0, self._wake_at - now)
                self._cond.wait(timeout)

    # the host's side -------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        with self._cond:
            if self._closed:
                raise NotConnectedError(f"{self.description}: machine disconnected")
            now = time.monotonic()
            self.firmware.receive(data, now)
            wake = self.firmware.step(now)
            self._publish()
            if wake is not None and (self._wake_at is None or wake < self._wake_at):
                self._cond.notify_all()  # the timer thread must wake earlier than planned

    def close(self) -> None:
        super().close()
        if threading.current_thread() is not self._thread:
            self._thread.join(2.0)

