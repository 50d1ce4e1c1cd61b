"""A connected machine: its state, temperatures and position, listeners, and the exclusive lease.

One owner drives the machine at a time (an automation script, a print job, the terminal);
anyone else is refused with :class:`MachineBusyError` naming the owner, never dropped.
The machine knows nothing of plugins: the runtime hands it an ``on_connect`` callable.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any

from scriptdeck.errors import (
    FirmwareHaltError,
    MachineBusyError,
    MachineError,
    NotConnectedError,
    RunCancelledError,
)
from scriptdeck.machine.protocol import Reply, Temperature
from scriptdeck.machine.sender import Command, Sender, SenderConfig, Stream
from scriptdeck.machine.transport import Transport, open_transport

__all__ = ["Lease", "Machine", "MachineState"]

LineListener = Callable[[str, str], None]  # (direction "in" | "out", text)
StateListener = Callable[["MachineState", "MachineError | None"], None]
OnConnect = Callable[[], "Iterable[str] | str | None"]
# The longest disconnect() waits for a cancel's abort sequence to be acknowledged.
ABORT_FLUSH_S = 5.0


class MachineState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    READY = "ready"
    BUSY = "busy"  # leased
    PAUSED = "paused"  # leased, the owner's lines held
    ERROR = "error"  # halted, timed out or lost: reconnect


class Machine:
    """A machine opened by URL. Example::

        m = Machine("virtual://?advanced_ok=1")
        m.connect()
        with m.lease("calibration") as lease:
            lease.sendline("G28")
            print(lease.get_response("M114"))
        m.disconnect()
    """

    def __init__(
        self,
        url: str = "virtual://",
        *,
        flow: str = "buffered",
        rx_size: int = 128,
        ack_timeout: float = 10.0,
        start_timeout: float = 2.0,
        on_connect: OnConnect | None = None,
        abort_sequence: Sequence[str] = ("M108", "M410"),
        abort_lines: Sequence[str] = (),
        temp_interval: float = 2.0,
        transport_factory: Callable[[str], Transport] = open_transport,
    ) -> None:
        self.url = url
        self.config = SenderConfig(flow=flow, rx_size=rx_size, ack_timeout=ack_timeout)
        self.start_timeout = start_timeout
        self.on_connect = on_connect
        self.abort_sequence = list(abort_sequence)
        self.abort_lines = list(abort_lines)
        self.temp_interval = temp_interval
        self._factory = transport_factory
        self._lock = threading.RLock()
        self._state = MachineState.DISCONNECTED
        self._error: MachineError | None = None
        self._sender: Sender | None = None
        self._lease: Lease | None = None
        self._aborting: list[Command] = []  # the last cancel's abort sequence, flushed by disconnect()
        self._line_listeners: list[LineListener] = []
        self._state_listeners: list[StateListener] = []
        self._poller: threading.Thread | None = None
        self._poll_stop = threading.Event()
        self.temperatures: dict[str, Temperature] = {}
        self.position: dict[str, float] = {}
        self.firmware_info: dict[str, str] = {}
        self.capabilities: dict[str, bool] = {}

    # state --------------------------------------------------------------------------------
    @property
    def state(self) -> MachineState:
        return self._state

    @property
    def error(self) -> MachineError | None:
        """Why the machine is in ``error`` (or was disconnected by the link)."""
        return self._error

    @property
    def owner(self) -> str | None:
        lease = self._lease
        return lease.owner if lease is not None else None

    @property
    def sender(self) -> Sender:
        sender = self._sender
        if sender is None or self._state in (MachineState.DISCONNECTED, MachineState.CONNECTING):
            raise NotConnectedError(f"machine {self.url} is not connected")
        if sender.failure is not None:
            raise sender.failure
        return sender

    def _set_state(self, state: MachineState, error: MachineError | None = None) -> None:
        with self._lock:
            if state is self._state and (error is None or error is self._error):
                return
            self._state = state
            if state is MachineState.ERROR:
                self._error = error
            elif state is MachineState.CONNECTING:
                self._error = None
        for fn in list(self._state_listeners):
            with contextlib.suppress(Exception):
                fn(state, error)

    def add_line_listener(self, fn: LineListener) -> Callable[[], None]:
        """Call ``fn(direction, text)`` for every line in ("in") and out ("out"); returns an unsubscribe."""
        self._line_listeners.append(fn)
        sender = self._sender
        if sender is not None and self._dispatch_line not in sender.line_listeners:
            sender.line_listeners.append(self._dispatch_line)
        return lambda: self._line_listeners.remove(fn) if fn in self._line_listeners else None

    def add_state_listener(self, fn: StateListener) -> Callable[[], None]:
        """Call ``fn(state, error)`` on every state change; returns an unsubscribe."""
        self._state_listeners.append(fn)
        return lambda: self._state_listeners.remove(fn) if fn in self._state_listeners else None

    # connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the link, sync line numbers, learn the firmware, send the on-connect lines."""
        with self._lock:
            if self._state not in (MachineState.DISCONNECTED, MachineState.ERROR):
                return
            self._close_sender()
            self._error = None
            self._set_state(MachineState.CONNECTING)
        try:
            transport = self._factory(self.url)
            sender = Sender(transport, self.config)
            if self._line_listeners:  # decoding every line costs CPU; only when someone listens
                sender.line_listeners.append(self._dispatch_line)
            sender.reply_listeners.append(self._on_reply)
            sender.failure_listeners.append(self._on_failure)
            with self._lock:
                self._sender = sender
            sender.start()
            # A board resetting on open says "start"; a board that does not reset says nothing.
            sender.started.wait(self.start_timeout)
            timeout = self.config.ack_timeout
            sender.request("M110 N0", timeout, urgent=True)
            self._learn_firmware(sender.request("M115", timeout, urgent=True))
            sender.request("M114", timeout, urgent=True)  # the position is known from the start
            if self.capabilities.get("AUTOREPORT_TEMP") and self.temp_interval > 0:
                sender.request(f"M155 S{max(1, round(self.temp_interval))}", timeout, urgent=True)
            elif self.temp_interval > 0:
                self._start_poller()
            if self.capabilities.get("AUTOREPORT_POS") and self.temp_interval > 0:
                # Live position at the temperature reports' pace (Marlin's M154), e.g. for the dashboard.
                sender.position_reports = True
                sender.request(f"M154 S{max(1, round(self.temp_interval))}", timeout, urgent=True)
            for line in self._connect_lines():
                sender.request(line, timeout, urgent=True)
        except MachineError as exc:
            self._close_sender()
            self._set_state(MachineState.ERROR, exc)
            raise
        self._set_state(MachineState.READY)

    def _connect_lines(self) -> list[str]:
        if self.on_connect is None:
            return []
        lines = self.on_connect()
        if lines is None:
            return []
        if isinstance(lines, str):
            lines = lines.splitlines()
        return [line for line in lines if line.strip()]

    def send_host_commands(self, lines: Iterable[str] | str, owner: str = "host") -> None:
        """Send lines under a short lease (e.g. a script's commands after its settings were saved)."""
        if isinstance(lines, str):
            lines = lines.splitlines()
        with self.lease(owner) as lease:
            for line in lines:
                lease.sendline(line)
            lease.wait_idle()

    def _learn_firmware(self, reply: list[str]) -> None:
        for text in reply:
            if text.startswith("FIRMWARE_NAME:"):
                keys = ("FIRMWARE_NAME", "SOURCE_CODE_URL", "PROTOCOL_VERSION", "MACHINE_TYPE", "EXTRUDER_COUNT", "UUID")
                for i, key in enumerate(keys):
                    start = text.find(key + ":")
                    if start < 0:
                        continue
                    ends = [text.find(k + ":", start + 1) for k in keys[i + 1 :]]
                    end = min([e for e in ends if e > 0] or [len(text)])
                    self.firmware_info[key] = text[start + len(key) + 1 : end].strip()
            elif text.startswith("Cap:"):
                _, name, value = ([*text.split(":"), "0"])[:3]
                self.capabilities[name.strip()] = value.strip() == "1"

    def _start_poller(self) -> None:
        self._poll_stop.clear()

        def poll() -> None:
            # Timed waits between M105 polls, stopped by an Event: no busy loop.
            while not self._poll_stop.wait(self.temp_interval):
                sender = self._sender
                if sender is None or sender.failure is not None:
                    return
                with contextlib.suppress(MachineError):
                    sender.send("M105", urgent=True)

        self._poller = threading.Thread(target=poll, name="scriptdeck-temp-poll", daemon=True)
        self._poller.start()

    def disconnect(self) -> None:
        """Close the link; a run in progress ends with NotConnectedError.

        A cancel's abort sequence still queued (behind lines the firmware has not acknowledged)
        is let out first, for up to ABORT_FLUSH_S: a CLI that exits right after Ctrl-C must not
        leave the heaters on because its M104 S0 never left the host.
        """
        self._flush_abort()
        self._close_sender()
        with self._lock:
            self._lease = None
        self._set_state(MachineState.DISCONNECTED)

    def _flush_abort(self) -> None:
        sender, cmds = self._sender, self._aborting
        self._aborting = []
        if sender is None or sender.failure is not None:
            return
        deadline = time.monotonic() + min(ABORT_FLUSH_S, self.config.ack_timeout)
        for cmd in cmds:
            with contextlib.suppress(MachineError):
                sender.wait(cmd, max(0.0, deadline - time.monotonic()))

    def _close_sender(self) -> None:
        self._poll_stop.set()
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.failure_listeners.clear()
            sender.close()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(1.0)
            self._poller = None

    def close(self) -> None:
        self.disconnect()

    def __enter__(self) -> Machine:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # what the reader thread tells us --------------------------------------------------------
    def _dispatch_line(self, direction: str, text: str) -> None:
        for fn in list(self._line_listeners):
            with contextlib.suppress(Exception):
                fn(direction, text)

    def _on_reply(self, reply: Reply) -> None:
        if reply.temperatures:
            self.temperatures = {**self.temperatures, **reply.temperatures}
        if reply.position:
            self.position = {**self.position, **reply.position}

    def _on_failure(self, error: MachineError) -> None:
        with self._lock:
            self._lease = None
            self._poll_stop.set()
        self._set_state(MachineState.ERROR, error)

    # leases ---------------------------------------------------------------------------------
    def lease(self, owner: str) -> Lease:
        """Take the machine for ``owner``; MachineBusyError names the current owner if taken."""
        with self._lock:
            self.sender  # noqa: B018 — raises when not connected
            if self._lease is not None:
                raise MachineBusyError(
                    f"machine is busy: {self._lease.owner!r} owns it; {owner!r} must wait until it finishes"
                )
            lease = Lease(self, owner)
            self._lease = lease
            self._set_state(MachineState.BUSY)
            return lease

    def _release(self, lease: Lease) -> None:
        with self._lock:
            if self._lease is not lease:
                return
            self._lease = None
            sender = self._sender
            if sender is not None:
                sender.set_paused(False)
            if self._state in (MachineState.BUSY, MachineState.PAUSED):
                self._set_state(MachineState.READY)
        if lease.moved and sender is not None and sender.failure is None:
            # The owner moved the machine: ask where it is now (the reply updates `position`).
            with contextlib.suppress(MachineError):
                sender.send("M114", urgent=True)

    def check_owner(self, lease: Lease) -> Sender:
        with self._lock:
            if lease.cancelled:
                raise RunCancelledError(f"{lease.owner!r} was cancelled")
            if self._lease is not lease:
                sender = self._sender
                if sender is not None and sender.failure is not None:
                    raise sender.failure
                if self._error is not None and self._state is MachineState.ERROR:
                    raise self._error
                now = self._lease.owner if self._lease else None
                raise MachineBusyError(
                    f"{lease.owner!r} no longer owns the machine" + (f"; {now!r} does" if now else "")
                )
            return self.sender

    def send(self, line: str, owner: str = "terminal", timeout: float | None = None) -> list[str]:
        """One command from someone without a lease (the manual terminal): refused while another owns it."""
        with self._lock:
            lease = self._lease
            if lease is not None and lease.owner == owner:
                return lease.request(line, timeout)
        with self.lease(owner) as lease:
            return lease.request(line, timeout)

    def emergency_stop(self) -> None:
        """M112 at once, whoever owns the machine; the firmware halts and needs a reconnect."""
        sender = self._sender
        if sender is not None and sender.failure is None:
            sender.send("M112")
            sender.fail(FirmwareHaltError("emergency stop (M112) sent; reconnect the machine"))

    # pause / resume / cancel the owner's flow ---------------------------------------------
    def pause(self) -> None:
        with self._lock:
            if self._lease is None:
                raise MachineError("nothing to pause: the machine has no owner")
            self.sender.set_paused(True)
            self._set_state(MachineState.PAUSED)

    def resume(self) -> None:
        with self._lock:
            if self._lease is None:
                return
            self.sender.set_paused(False)
            self._set_state(MachineState.BUSY)

    def cancel(self, reason: str = "cancelled by the user", wait: bool = True) -> None:
        """Stop the owner's lines at once, send the abort sequence, release the lease."""
        with self._lock:
            lease = self._lease
            sender = self._sender
            if lease is None or sender is None:
                return
            lease.cancelled = True
            sender.discard(reason)
            sender.set_paused(False)
            cmds: list[Command] = []
            for line in [*self.abort_sequence, *self.abort_lines]:
                with contextlib.suppress(MachineError):
                    cmds.append(sender.send(line, urgent=True))
            self._aborting = cmds
            self._release(lease)
        if wait:
            for cmd in cmds:
                with contextlib.suppress(MachineError):
                    sender.wait(cmd, self.config.ack_timeout)

    # printing --------------------------------------------------------------------------------
    def print_lines(self, lines: Sequence[str], name: str = "job") -> Any:
        """Stream ``lines`` under a lease named ``print job <name>``; returns a running PrintJob."""
        from scriptdeck.machine.job import PrintJob

        return PrintJob.start(self, lines, name)

    def print_file(self, path: str, name: str | None = None) -> Any:
        from pathlib import Path

        from scriptdeck.machine.job import read_gcode

        p = Path(path)
        return self.print_lines(read_gcode(p), name or p.name)


class Lease:
    """The owner's handle on a machine (``with machine.lease("owner") as lease: ...``)."""

    def __init__(self, machine: Machine, owner: str) -> None:
        self.machine = machine
        self.owner = owner
        self.cancelled = False
        self.moved = False  # sent a G command (or a stream): the position must be asked at release

    def _note(self, line: str) -> None:
        if not self.moved and line.lstrip()[:1] in ("G", "g"):
            self.moved = True

    @property
    def active(self) -> bool:
        return self.machine._lease is self and not self.cancelled

    def send(self, line: str) -> Command:
        sender = self.machine.check_owner(self)
        self._note(line)
        return sender.send(line)

    def sendline(self, line: str) -> None:
        self.send(line)

    def request(self, line: str, timeout: float | None = None) -> list[str]:
        """Send ``line`` and return its reply lines (the last is the ``ok``)."""
        sender = self.machine.check_owner(self)
        self._note(line)
        return sender.request(line, timeout)

    def get_response(self, line: str, timeout: float | None = None) -> str:
        """mecode's shape: the reply lines joined, each ending in a newline."""
        return "".join(text + "\n" for text in self.request(line, timeout))

    def wait_idle(self, timeout: float | None = None) -> None:
        self.machine.check_owner(self).wait_idle(timeout)

    def stream(self, lines: Iterable[str] | Stream, total: int | None = None) -> Stream:
        """Stream many lines without a thread hand-off per line; progress on the returned Stream."""
        stream = lines if isinstance(lines, Stream) else Stream(lines, total)
        sender = self.machine.check_owner(self)
        self.moved = True
        return sender.stream(stream)

    def release(self) -> None:
        self.machine._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
