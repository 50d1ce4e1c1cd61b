"""The simulated Marlin firmware behind ``virtual://``: bytes in, bytes out, time passed in.

No threads and no clock of its own, so tests can drive it step by step; the drivers in
``virtual.py`` (in-process) and ``virtual_pty.py`` (pseudo-terminal) add both.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scriptdeck.machine.protocol import checksum

if TYPE_CHECKING:
    from scriptdeck.machine.virtual import VirtualOptions

__all__ = ["Firmware"]

_N_RE = re.compile(rb"N(-?\d+)\s*")
_WORD_RE = re.compile(r"([A-Z])\s*(-?\d*\.?\d*)")
_MOVES = {"G0", "G1", "G2", "G3"}
_CODE_RE = re.compile(r"[GMT]\d+(\.\d+)?")
# Marlin's emergency parser acts on these as they arrive, even when the queue is blocked.
_EMERGENCY = (b"M112", b"M410", b"M108")


@dataclass(slots=True)
class Heater:
    actual: float
    target: float = 0.0

    def advance(self, dt: float, rate: float, ambient: float) -> None:
        goal = self.target if self.target > 0 else ambient
        step = rate * dt
        if abs(goal - self.actual) <= step:
            self.actual = goal
        else:
            self.actual += step if goal > self.actual else -step


def _words(cmd: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for letter, value in _WORD_RE.findall(cmd.upper()[1:] if cmd else ""):
        try:
            out[letter] = float(value) if value not in ("", "-", ".") else None
        except ValueError:
            out[letter] = None
    return out


class Firmware:
    """Marlin's main loop in miniature. Feed it with ``receive``; call ``step`` at the time it
    asks for (its return value); read ``out``. ``stats`` counts what happened."""

    def __init__(self, options: VirtualOptions) -> None:
        self.o = options
        self.out = bytearray()
        self.disconnected = False
        self.stats = {"accepted": 0, "errors": 0, "rx_dropped": 0, "rx_max": 0, "moves": 0, "resends": 0}
        self.log: list[str] = []  # every accepted command, for tests
        self.power_on(0.0)

    # lifecycle --------------------------------------------------------------------------
    def power_on(self, now: float, greet: bool = True) -> None:
        """A (re)boot, like Marlin after a DTR reset: all state back to power-on values."""
        o = self.o
        self.rx = bytearray()
        self.queue: deque[tuple[int | None, str]] = deque()
        self.planner: deque[float] = deque()
        self.last_n = 0
        self.pos = {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
        self.relative = False
        self.e_relative = False
        self.heaters = {"T": Heater(o.ambient), "B": Heater(o.ambient)}
        self.halted = False
        self.stalled = False
        self.blocked: tuple[str, float] | None = None  # (what, until/target) the queue head waits for
        self.block_cmd: tuple[int | None, str] | None = None
        self.block_heater = self.heaters["T"]
        self.autoreport_s = 0.0
        self.next_report = 0.0
        self.pos_report_s = 0.0  # M154 position auto-report interval
        self.next_pos_report = 0.0
        self.next_keepalive = 0.0
        self.last_activity = now
        self.clock = now
        self.fired: set[tuple[str, int]] = set()
        self.out.clear()
        if o.start and greet:
            self.greet()

    def greet(self) -> None:
        if self.o.start:
            self.emit("start")
            self.emit("echo:Marlin 2.1.2 (scriptdeck virtual printer)")
            if self.o.greet_ok:
                self.emit("ok")

    def emit(self, text: str) -> None:
        self.out += text.encode() + b"\n"

    # input ------------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> None:
        if self.halted or self.stalled or self.disconnected:
            return
        self.last_activity = now
        for word in _EMERGENCY:
            if word in data:
                self._emergency(word, now)
                if self.halted:
                    return
        if self.o.rx_size:
            room = self.o.rx_size - len(self.rx)
            if room < len(data):
                self.stats["rx_dropped"] += len(data) - max(room, 0)
                data = data[: max(room, 0)]
        self.rx += data
        self.stats["rx_max"] = max(self.stats["rx_max"], len(self.rx))

    def _emergency(self, word: bytes, now: float) -> None:
        if word == b"M112":
            self.halted = True
            self.planner.clear()
            self.queue.clear()
            self.rx.clear()
            self.emit("Error:Printer halted. kill() called!")
        elif word == b"M410":
            self.planner.clear()  # quick-stop: discard planned moves at once
        elif word == b"M108" and self.blocked and self.blocked[0] == "heat":
            self.blocked = ("done", now)

    # the main loop ---------------------------------------------------------------------
    def step(self, now: float) -> float | None:
        """Advance to ``now``; return when to be called again (``None``: only on input)."""
        if self.halted or self.stalled or self.disconnected:
            return None
        dt = now - self.clock
        if dt > 0:
            self.clock = now
            for h in self.heaters.values():
                h.advance(dt, self.o.heat_rate, self.o.ambient)
        while self.planner and self.planner[0] <= now:
            self.planner.popleft()
        progressed = True
        while progressed and not (self.halted or self.stalled or self.disconnected):
            progressed = False
            if self.blocked is not None and not self._unblocked(now):
                break
            self._fill_queue()
            if self.queue:
                progressed = self._execute_head(now)
        return self._next_wake(now)

    def _fill_queue(self) -> None:
        size = max(1, self.o.bufsize)
        while len(self.queue) < size:
            nl = self.rx.find(b"\n")
            if nl < 0:
                return
            raw = bytes(self.rx[:nl])
            del self.rx[: nl + 1]
            item = self._parse(raw)
            if item is not None:
                self.queue.append(item)
            if self.halted or self.stalled or self.disconnected:
                return

    def _error(self, message: str) -> None:
        self.stats["errors"] += 1
        self.stats["resends"] += 1
        self.emit(f"Error:{message}, Last Line: {self.last_n}")
        self.emit(f"Resend: {self.last_n + 1}")
        self.emit("ok")
        self.rx.clear()  # like Marlin 2: what followed the bad line is dropped too

    def _fault(self, kind: str, n: int) -> bool:
        """Is a ``kind`` fault injected at line ``n`` (once)? Only called when faults are set."""
        for fault in self.o.faults:
            if fault.kind == kind and fault.matches(n) and (kind, n) not in self.fired:
                self.fired.add((kind, n))
                return True
        return False

    def _parse(self, raw: bytes) -> tuple[int | None, str] | None:
        line = raw.split(b";", 1)[0].strip()
        if not line:
            return None
        star = line.rfind(b"*")
        if line[:1] != b"N":
            if star >= 0:
                self._error("No Line Number with checksum")
                return None
            return (None, line.decode("ascii", "replace"))
        m = _N_RE.match(line)
        if not m:
            self._error("Line Number is not Last Line Number+1")
            return None
        n = int(m.group(1))
        body = (line[m.end() : star] if star >= 0 else line[m.end() :]).strip()
        is_m110 = body.startswith(b"M110")
        if not is_m110 and n != self.last_n + 1:
            self._error("Line Number is not Last Line Number+1")
            return None
        if star < 0:
            self._error("No Checksum with line number")
            return None
        try:
            cs = int(line[star + 1 :])
        except ValueError:
            cs = -1
        faults = bool(self.o.faults)  # tested once: _parse runs for every line
        if cs != checksum(line[:star]) or (faults and self._fault("checksum", n)):
            self._error("checksum mismatch")
            return None
        if faults and self._injected(n):
            return None
        self.last_n = n
        return (n, body.decode("ascii", "replace"))

    def _injected(self, n: int) -> bool:
        """Faults other than a checksum error injected at line ``n``: True when the line is lost."""
        if self._fault("drop", n):
            return True  # lost on the wire: no reply at all
        if self._fault("stall", n):
            self.stalled = True
            return True
        if self._fault("disconnect", n):
            self.disconnected = True
            return True
        if self._fault("halt", n):
            self.halted = True
            self.emit("Error:Thermal Runaway, system stopped! Heater_ID: 0")
            self.emit("Error:Printer halted. kill() called!")
            return True
        if self._fault("garbage", n):
            self.out += b"\xff\xfe\x00\x1b[0m#@!garbage\n"
        return False

    def _next_wake(self, now: float) -> float | None:
        wakes: list[float] = []
        if self.planner:
            wakes.append(self.planner[0])
        if self.blocked is not None:
            what, until = self.blocked
            if what in ("dwell", "sync"):
                wakes.append(until)
            elif what == "heat":
                h = self.block_heater
                gap = abs(h.actual - (h.target if h.target > 0 else self.o.ambient)) - 0.99
                wakes.append(now + max(0.001, gap / max(self.o.heat_rate, 1e-6)))
            wakes.append(self.next_keepalive)
        if self.autoreport_s:
            wakes.append(self.next_report)
        if self.pos_report_s:
            wakes.append(self.next_pos_report)
        if self.o.wait_ms and not self.queue and self.blocked is None:
            wakes.append(self.last_activity + self.o.wait_ms / 1000)
            if now >= wakes[-1]:
                self.emit("wait")
                self.last_activity = now
                wakes[-1] = now + self.o.wait_ms / 1000
        if self.autoreport_s and now >= self.next_report:
            self.emit(" " + self._temps())
            self.next_report = now + self.autoreport_s
            wakes.append(self.next_report)
        if self.pos_report_s and now >= self.next_pos_report:
            self._report_position()
            self.next_pos_report = now + self.pos_report_s
            wakes.append(self.next_pos_report)
        return min(wakes) if wakes else None

    # commands --------------------------------------------------------------------------
    def _ok(self, n: int | None) -> None:
        if self.o.advanced_ok:
            free_p = self.o.buffer - len(self.planner) if self.o.buffer else 0
            ns = f" N{n}" if n is not None else ""
            self.emit(f"ok{ns} P{free_p} B{self.o.bufsize - len(self.queue)}")
        else:
            self.emit("ok")

    def _temps(self) -> str:
        t, b = self.heaters["T"], self.heaters["B"]
        return f"T:{t.actual:.2f} /{t.target:.2f} B:{b.actual:.2f} /{b.target:.2f} @:0 B@:0"

    def _execute_head(self, now: float) -> bool:
        """Run the queue head. False when it must wait (planner full)."""
        n, cmd = self.queue[0]
        code = cmd.split(None, 1)[0].upper() if cmd else ""
        w = _words(cmd)
        if code == "M105":
            self.queue.popleft()
            self.accept(cmd)
            self.emit("ok " + self._temps())  # Marlin puts the report on the ok line
            return True
        if code in _MOVES:
            if self.o.buffer:
                if len(self.planner) >= self.o.buffer:
                    return False
                start = self.planner[-1] if self.planner else now
                self.planner.append(max(start, now) + self.o.move_ms / 1000)
            self.stats["moves"] += 1
            self._move(w)
            self.queue.popleft()
            self.accept(cmd)
            self._ok(n)
            return True
        if code in ("M400", "G4", "G28", "M109", "M190"):
            self.queue.popleft()
            self.block_cmd = (n, cmd)
            self._start_block(code, w, now)
            self.accept(cmd)
            return True
        self.queue.popleft()
        self.accept(cmd)
        self._simple(code, cmd, w)
        self._ok(n)
        return True

    def accept(self, cmd: str) -> None:
        self.stats["accepted"] += 1
        self.log.append(cmd)

    def _report_position(self) -> None:
        """M114's answer, also M154's auto-report: the same line, as Marlin sends both."""
        p = self.pos
        self.emit(
            f"X:{p['X']:.2f} Y:{p['Y']:.2f} Z:{p['Z']:.2f} E:{p['E']:.2f} "
            f"Count X:{round(p['X'] * 80)} Y:{round(p['Y'] * 80)} Z:{round(p['Z'] * 400)}"
        )

    def _move(self, w: dict[str, float | None]) -> None:
        for axis in ("X", "Y", "Z", "E"):
            v = w.get(axis)
            if v is None:
                continue
            rel = self.e_relative if axis == "E" else self.relative
            self.pos[axis] = self.pos[axis] + v if rel else v

    def _simple(self, code: str, cmd: str, w: dict[str, float | None]) -> None:
        if code == "M114":
            self._report_position()
        elif code == "G90":
            self.relative = self.e_relative = False
        elif code == "G91":
            self.relative = self.e_relative = True
        elif code == "M82":
            self.e_relative = False
        elif code == "M83":
            self.e_relative = True
        elif code == "G92":
            for axis in ("X", "Y", "Z", "E"):
                if axis in w:
                    self.pos[axis] = w[axis] or 0.0
        elif code in ("M104", "M140"):
            self.heaters["T" if code == "M104" else "B"].target = w.get("S") or 0.0
        elif code == "M110":
            self.last_n = int(w.get("N") or 0) if "N" in w else self.last_n
        elif code == "M115":
            adv = 1 if self.o.advanced_ok else 0
            self.emit(
                "FIRMWARE_NAME:Marlin 2.1.2 (scriptdeck virtual) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
                "PROTOCOL_VERSION:1.0 MACHINE_TYPE:scriptdeck virtual printer EXTRUDER_COUNT:1"
            )
            for cap, on in (("AUTOREPORT_TEMP", 1), ("ADVANCED_OK", adv), ("EMERGENCY_PARSER", 1),
                            ("AUTOREPORT_POS", 1), ("HOST_ACTION_COMMANDS", 0)):
                self.emit(f"Cap:{cap}:{on}")
        elif code == "M155":
            self.autoreport_s = w.get("S") or 0.0
            self.next_report = self.clock + self.autoreport_s
        elif code == "M154":
            self.pos_report_s = w.get("S") or 0.0
            self.next_pos_report = self.clock + self.pos_report_s
        elif code in ("M112", "M410", "M108"):
            pass  # already handled by the emergency parser on arrival
        elif not _CODE_RE.fullmatch(code):
            self.emit(f'echo:Unknown command: "{cmd}"')

    def _start_block(self, code: str, w: dict[str, float | None], now: float) -> None:
        self.next_keepalive = now + (self.o.report_ms if code in ("M109", "M190") else self.o.busy_ms) / 1000
        if code in ("M109", "M190"):
            heater = self.heaters["T" if code == "M109" else "B"]
            target = w.get("S") if w.get("S") is not None else w.get("R")
            if target is not None:
                heater.target = target
            self.blocked = ("heat", 0.0)
            self.block_heater = heater
        elif code == "G4":
            ms = (w.get("P") or 0.0) + (w.get("S") or 0.0) * 1000
            self.blocked = ("dwell_after_sync", ms / 1000)
        elif code == "G28":
            axes = [a for a in ("X", "Y", "Z") if a in w] or ["X", "Y", "Z"]
            for a in axes:
                self.pos[a] = 0.0
            self.blocked = ("sync", now + self.o.move_ms / 1000)
        else:  # M400
            self.blocked = ("sync", now)

    def _unblocked(self, now: float) -> bool:
        assert self.blocked is not None
        what, arg = self.blocked
        done = False
        if what == "heat":
            h = self.block_heater
            done = abs(h.actual - (h.target if h.target > 0 else self.o.ambient)) < 1.0
        elif what == "dwell_after_sync":
            if not self.planner:
                self.blocked = ("dwell", now + arg)
        elif what in ("sync", "dwell"):
            done = not self.planner and now >= arg
        elif what == "done":
            done = True
        if done:
            self.blocked = None
            n = self.block_cmd[0] if self.block_cmd else None
            self.block_cmd = None
            self._ok(n)
            return True
        if now >= self.next_keepalive:
            heating = what == "heat"
            self.emit(" " + self._temps() + " W:?" if heating else "echo:busy: processing")
            self.next_keepalive = now + (self.o.report_ms if heating else self.o.busy_ms) / 1000
        return False
