"""The sender: numbers, frames and streams lines to the firmware; its public API and the writing side.

Klipper's ``serialhdl`` shape: a single background thread owns reading the port and
completes waiting callers through a ``threading.Condition``; nobody polls with ``sleep``.
Reading is a role (``_reading``), held by one thread at a time: after answering a caller with
nothing else expected, the reader thread parks for a moment and a caller in ``request()`` may
take the role and read its own reply — a round trip then wakes one thread, not two.
Writes happen in whichever thread finds room in the window (usually the reader, right
after an ``ok``), serialised by a write lock taken without blocking: a thread that finds it
taken leaves a note (``_kick``) that the holder reads before letting go, so the reader never
waits for a writer and no line waits for a wake-up that already passed.

The reading side (the reader thread, replies, the streaming hot path) is the base class,
:class:`~scriptdeck.machine.receiving.Receiver`; this module has the state, the public API
and the writing side. Flow control and resend bookkeeping live in :mod:`scriptdeck.machine.window`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

from scriptdeck.errors import AckTimeoutError, MachineError, NotConnectedError, RunCancelledError
from scriptdeck.machine.commands import Command, SenderConfig, Stream
from scriptdeck.machine.protocol import Reply, clean_line
from scriptdeck.machine.receiving import PARK_S as PARK_S  # importable from here, as before the split
from scriptdeck.machine.receiving import Receiver
from scriptdeck.machine.transport import Transport
from scriptdeck.machine.window import Window

__all__ = ["Command", "Sender", "SenderConfig", "Stream"]

# Emergency commands Marlin's parser acts on as they arrive: sent at once when their bytes
# fit the receive buffer, else first in line (M112 always at once: the firmware halts anyway).
EMERGENCY = ("M112", "M410", "M108")


class Sender(Receiver):
    """Owns one transport. ``start()`` launches the reader; ``close()`` stops it."""

    def __init__(self, transport: Transport, config: SenderConfig | None = None) -> None:
        self.transport = transport
        self.config = config or SenderConfig()
        self.window = Window(self.config)
        # Entered as the raw lock (a C-level ``with``; Condition's __enter__ is Python code, run
        # several times per line); the conditions below are only for waiting and notifying.
        self._lock = lock = threading.Lock()
        self._cond = threading.Condition(lock)
        # The reader thread, parked, waits on its own condition (same lock): notifying the
        # callers does not wake it.
        self._unpark = threading.Condition(lock)
        # The reading role: only its holder calls transport.read. The reader thread holds it
        # except while parked (see _park); a waiting caller may take it then (see wait()).
        self._reading = threading.Lock()
        self._parked = False
        self._claims = 0  # callers in request(): they read for themselves, do not unpark
        self._resume = False  # a caller stopped reading with lines in flight: unpark
        self._partial = b""  # the start of a reply line whose end has not come yet
        self._write_lock = threading.Lock()
        self._kick = False  # someone found the write lock taken: its holder takes again
        self._urgent: deque[Command] = deque()
        self._normal: deque[Command] = deque()
        self._stream: Stream | None = None
        self._last_sent: Command | None = None
        self._last_rx = time.monotonic()
        self._failure: MachineError | None = None
        self._waiters = 0
        self._wake = False  # the reader completed lines someone may wait for: notify before reading
        self._ok_len = 3  # bytes of the last "ok" line, for gathering reads
        self._closing = False
        self.paused = False
        # The firmware auto-reports its position (M154): a position line then answers only M114.
        self.position_reports = False
        self.started = threading.Event()  # the firmware said "start" (or anything)
        self._greeted = False  # started is set (a plain attribute: read on every reply)
        self.line_listeners: list[Callable[[str, str], None]] = []  # (direction "in"/"out", text)
        self.reply_listeners: list[Callable[[Reply], None]] = []  # replies carrying temperatures/position
        self.failure_listeners: list[Callable[[MachineError], None]] = []
        self._gather: Callable[[int], None] | None = getattr(transport, "gather", None)
        self._reader = threading.Thread(target=self._read_loop, name="scriptdeck-reader", daemon=True)

    # public API ---------------------------------------------------------------------------
    def start(self) -> None:
        self._reader.start()

    @property
    def failure(self) -> MachineError | None:
        return self._failure

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._busy()

    def send(self, text: str, *, urgent: bool = False) -> Command:
        """Queue one line (comments stripped) and return its :class:`Command` at once."""
        cmd = Command(clean_line(text))
        if not cmd.text:
            cmd.done = True
            return cmd
        if cmd.text.split(None, 1)[0].upper() in EMERGENCY:
            self._send_emergency(cmd)
            return cmd
        with self._lock:
            self._check()
            if not urgent:
                while len(self._normal) >= self.config.max_queue and self._failure is None:
                    self._cond.wait()
                self._check()
            self.window.check_size(cmd.text)
            (self._urgent if urgent else self._normal).append(cmd)
        self._pump()
        return cmd

    def wait(self, cmd: Command, timeout: float | None = None) -> list[str]:
        """Block until ``cmd`` is acknowledged; its reply lines. Raises the link's failure."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._waiters += 1
            try:
                while not cmd.done:
                    if cmd.error is not None:
                        raise cmd.error
                    self._check()
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise AckTimeoutError(f"no acknowledgement for {cmd.text!r} within {timeout} s")
                    if self._parked and self._reading.acquire(blocking=False):
                        # The reader thread stepped aside: read for ourselves, sparing the
                        # wake-up of a second thread (and its hand-off) on every round trip.
                        self._lock.release()
                        try:
                            self._read_until(cmd, deadline)
                        finally:
                            self._reading.release()
                            self._lock.acquire()
                        if self._busy():
                            # Lines in flight we no longer read for: the reader thread takes
                            # them over, whoever else is in request().
                            self._resume = True
                            self._unpark.notify()
                            if self._waiters > 1:
                                self._cond.notify_all()
                        continue
                    self._cond.wait(remaining)
            finally:
                self._waiters -= 1
        if cmd.error is not None:
            raise cmd.error
        return cmd.response

    def request(self, text: str, timeout: float | None = None, *, urgent: bool = False) -> list[str]:
        """Send ``text`` and wait for its reply lines; the caller may read them itself (see _park)."""
        with self._lock:
            self._claims += 1
        try:
            return self.wait(self.send(text, urgent=urgent), timeout)
        finally:
            with self._lock:
                self._claims -= 1
                if self._parked and not self._claims and self._busy():
                    self._unpark.notify()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every queued line is acknowledged."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._waiters += 1
            try:
                while self._busy():
                    self._check()
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise AckTimeoutError(
                            f"lines still unacknowledged after {timeout} s; last sent {self._last_sent_text()!r}"
                        )
                    self._cond.wait(remaining)
                self._check()
            finally:
                self._waiters -= 1

    def stream(self, stream: Stream) -> Stream:
        """Start streaming; only one stream at a time (the lease owner's)."""
        with self._lock:
            self._check()
            if self._stream is not None:
                raise MachineError("a stream is already running on this machine")
            self._stream = stream
        self._pump()
        return stream

    def set_paused(self, paused: bool) -> None:
        """Hold (or release) normal lines and the stream; urgent lines and in-flight acks go on."""
        with self._lock:
            self.paused = paused
        if not paused:
            self._pump()

    def discard(self, reason: str = "cancelled") -> None:
        """Drop every line not yet sent (normal queue and stream); their waiters get an error."""
        with self._lock:
            err = RunCancelledError(reason)
            for cmd in self._normal:
                cmd.error = err
            self._normal.clear()
            if self._stream is not None:
                self._stream.cancelled = True
                self._finish_stream(err)
            self._cond.notify_all()

    def fail(self, error: MachineError) -> None:
        """Put the link in its terminal state: every waiter and every later call gets ``error``."""
        with self._lock:
            if self._failure is not None:
                return
            self._failure = error
            for cmd in [*self._urgent, *self._normal, *self.window.clear()]:
                if not cmd.done:
                    cmd.error = error
            self._urgent.clear()
            self._normal.clear()
            if self._stream is not None:
                self._finish_stream(error)
            self._cond.notify_all()
            self._unpark.notify()
        for fn in list(self.failure_listeners):
            with contextlib.suppress(Exception):
                fn(error)

    def close(self) -> None:
        self._closing = True
        self.fail(NotConnectedError("machine disconnected"))
        self.transport.close()
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join(2.0)
        release = getattr(self.transport, "release_wakeup", None)
        if release is not None:
            release()

    # internals: sending ------------------------------------------------------------------
    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _busy(self) -> bool:
        w = self.window
        return bool(w.inflight or w.resend or self._urgent or self._normal or self._stream)

    def _last_sent_text(self) -> str:
        cmd = self._last_sent
        return "" if cmd is None else cmd.data.decode("ascii", "replace").strip()

    def _send_emergency(self, cmd: Command) -> None:
        # Unnumbered: Marlin's emergency parser acts on arrival; the line then queues like any
        # unnumbered command and is acknowledged in order, so it joins the in-flight FIFO.
        cmd.data = cmd.text.encode("ascii", "replace") + b"\n"
        halt = cmd.text.upper().startswith("M112")
        w = self.window
        with self._write_lock:
            with self._lock:
                self._check()
                send = halt or w.emergency_room(len(cmd.data))
                if not send:
                    self._urgent.appendleft(cmd)
                elif halt:
                    cmd.done = True
                else:
                    w.push(cmd, fresh=False)
                    self._last_sent = cmd
                    if self._parked:
                        self._unpark.notify()
            if send:
                self._write([cmd])
        if not send:
            self._pump()

    def _take(self) -> list[Command]:
        """Lines to write now, in order, already counted in flight (under the condition)."""
        w = self.window
        batch: list[Command] = []
        if not w.inflight:
            self._last_rx = time.monotonic()  # the acknowledgement clock starts now
        rx_size = w.rx_size
        hold = w.defer()  # decided once: when the window is topped up, it is filled
        while self._failure is None:
            if w.inflight and len(w.inflight) >= w.cap:
                break  # full whatever comes next: pull nothing from the stream
            fresh = True
            if w.resend:
                q, fresh = w.resend, False
            elif self._urgent:
                q = self._urgent
            elif self.paused or hold:
                break
            elif self._normal:
                q = self._normal
            else:
                s = self._stream
                if s is None or s.exhausted or s.cancelled:
                    break
                text = s.next_line()
                if text is None:
                    if s.acked == s.sent:
                        self._finish_stream(None)
                    break
                q = self._normal
                q.append(Command(text, s))
            cmd = q[0]
            if fresh and cmd.n is None and cmd.data:
                fresh = False  # an emergency line that waited for room: it stays unnumbered
            elif fresh:
                w.frame(cmd)
                if rx_size and len(cmd.data) > rx_size and cmd.stream is not None:
                    self._finish_stream(w.too_long(cmd.text, len(cmd.data)))  # send() checks the others
                    q.popleft()
                    break
            if not w.room(len(cmd.data)):
                break
            q.popleft()
            if cmd.stream is not None and fresh:
                cmd.stream.sent += 1
            w.push(cmd, fresh)
            batch.append(cmd)
        if batch:
            self._last_sent = batch[-1]
            if self._waiters and len(self._normal) < self.config.max_queue:
                self._cond.notify_all()
            if self._parked and not self._claims:
                self._unpark.notify()  # nobody would read these lines' replies
        return batch

    def _pump(self, batch: list[Command] | None = None) -> None:
        """Write what fits. With ``batch`` the caller holds the write lock and took it already."""
        while True:
            if batch is None:
                self._kick = True
                if not self._write_lock.acquire(blocking=False):
                    return  # the holder reads _kick before it lets go
                batch = []
            try:
                if batch:
                    self._write(batch)
                while self._kick:
                    self._kick = False
                    with self._lock:
                        batch = self._take()
                    if batch:
                        self._write(batch)
            finally:
                self._write_lock.release()
            if not self._kick:
                return
            batch = None

    def _write(self, batch: list[Command]) -> None:
        try:
            self.transport.write(batch[0].data if len(batch) == 1 else b"".join([c.data for c in batch]))
        except MachineError as exc:
            self.fail(exc if isinstance(exc, NotConnectedError) else NotConnectedError(str(exc)))
            return
        if self.line_listeners:
            for cmd in batch:
                self._notify_line("out", cmd.data.decode("ascii", "replace").strip())

    def _notify_line(self, direction: str, text: str) -> None:
        for fn in list(self.line_listeners):
            with contextlib.suppress(Exception):
                fn(direction, text)

    def _finish_stream(self, error: BaseException | None) -> None:
        s = self._stream
        if s is None:
            return
        self._stream = None
        s.error = error
        s.finished.set()
        self._cond.notify_all()
