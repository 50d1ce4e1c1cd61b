"""The sender: numbers, frames and streams lines to the firmware; one reader thread completes them.

Klipper's ``serialhdl`` shape: a single background thread owns reading the port and
completes waiting callers through a ``threading.Condition``; nobody polls with ``sleep``.
Reading is a role (``_reading``), held by one thread at a time: after answering a caller with
nothing else expected, the reader thread parks for a moment and a caller in ``request()`` may
take the role and read its own reply — a round trip then wakes one thread, not two.
Writes happen in whichever thread finds room in the window (usually the reader, right
after an ``ok``), serialised by a write lock taken without blocking: a thread that finds it
taken leaves a note (``_kick``) that the holder reads before letting go, so the reader never
waits for a writer and no line waits for a wake-up that already passed.

The hot path is one reader wake-up per burst of replies: plain and ADVANCED_OK ``ok`` lines
are matched on raw bytes (no decoding, no :class:`Reply`), the lines they make room for are
framed and written in one ``write``, and the condition is only notified when someone waits.
Flow control and resend bookkeeping live in :mod:`scriptdeck.machine.window`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

from scriptdeck.errors import (
    AckTimeoutError,
    FirmwareHaltError,
    MachineError,
    NotConnectedError,
    ProtocolError,
    RunCancelledError,
)
from scriptdeck.machine.commands import Command, SenderConfig, Stream
from scriptdeck.machine.protocol import (
    Reply,
    ReplyKind,
    clean_line,
    fast_ok,
    is_recoverable_error,
    parse_reply,
)
from scriptdeck.machine.transport import Transport
from scriptdeck.machine.window import Window

__all__ = ["Command", "Sender", "SenderConfig", "Stream"]

# Emergency commands Marlin's parser acts on as they arrive: sent at once when their bytes
# fit the receive buffer, else first in line (M112 always at once: the firmware halts anyway).
EMERGENCY = ("M112", "M410", "M108")
# Commands whose temperature report is their answer; any other report is an auto-report (M155).
_TEMP_OWNERS = ("M105", "M109", "M190")
# How long the reader thread leaves the port to callers after answering one (see Sender._park).
PARK_S = 0.05


class Sender:
    """Owns one transport. ``start()`` launches the reader; ``close()`` stops it."""

    def __init__(self, transport: Transport, config: SenderConfig | None = None) -> None:
        self.transport = transport
        self.config = config or SenderConfig()
        self.window = Window(self.config)
        lock = threading.Lock()
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
        self.started = threading.Event()  # the firmware said "start" (or anything)
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
        with self._cond:
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
        with self._cond:
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
        with self._cond:
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
                        self._cond.release()
                        try:
                            self._read_until(cmd, deadline)
                        finally:
                            self._reading.release()
                            self._cond.acquire()
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
        with self._cond:
            self._claims += 1
        try:
            return self.wait(self.send(text, urgent=urgent), timeout)
        finally:
            with self._cond:
                self._claims -= 1
                if self._parked and not self._claims and self._busy():
                    self._unpark.notify()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every queued line is acknowledged."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
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
        with self._cond:
            self._check()
            if self._stream is not None:
                raise MachineError("a stream is already running on this machine")
            self._stream = stream
        self._pump()
        return stream

    def set_paused(self, paused: bool) -> None:
        """Hold (or release) normal lines and the stream; urgent lines and in-flight acks go on."""
        with self._cond:
            self.paused = paused
        if not paused:
            self._pump()

    def discard(self, reason: str = "cancelled") -> None:
        """Drop every line not yet sent (normal queue and stream); their waiters get an error."""
        with self._cond:
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
        with self._cond:
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
            with self._cond:
                self._check()
                send = halt or not w.rx_size or w.held + len(cmd.data) <= w.rx_size
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
                    with self._cond:
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

    # internals: receiving ----------------------------------------------------------------
    def _read_loop(self) -> None:
        ack_timeout = self.config.ack_timeout
        monotonic = time.monotonic
        w = self.window
        reading = self._reading
        reading.acquire()
        try:
            while self._failure is None:
                if self._wake:
                    self._wake = False
                    if not self._busy():
                        # A caller's reply came and nothing else is expected: its next request
                        # is likely to follow at once, and it can read that reply itself.
                        reading.release()
                        try:
                            self._park()
                        finally:
                            reading.acquire()
                        continue
                    # Waiters are woken just before the reader blocks again: woken in _handle,
                    # they would only wait a second time, for the interpreter lock this thread holds.
                    with self._cond:
                        self._cond.notify_all()
                # Idle, the read still wakes every ack_timeout: a line sent meanwhile starts its
                # clock when it is sent (_take), and is checked at the latest one period later.
                timeout = ack_timeout
                if w.inflight:
                    timeout = max(0.0, self._last_rx + ack_timeout - monotonic())
                self._read_step(timeout)
        except MachineError as exc:
            if not self._closing:
                self.fail(exc)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            self.fail(ProtocolError(f"reader stopped: {exc!r}"))
        finally:
            reading.release()

    def _park(self) -> None:
        """Step aside from the port for up to PARK_S, until lines need a reader nobody provides.

        Bytes that come meanwhile (an auto-report) wait in the kernel's buffer, not lost.
        """
        deadline = time.monotonic() + PARK_S
        with self._cond:
            self._cond.notify_all()  # the waiter whose reply came
            self._parked = True
            try:
                while self._failure is None and not self._resume and not (self._busy() and not self._claims):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._unpark.wait(remaining)
            finally:
                self._parked = False
                self._resume = False

    def _read_until(self, cmd: Command, deadline: float | None) -> None:
        """A waiting caller holding the reading role: read until ``cmd`` is answered."""
        ack_timeout = self.config.ack_timeout
        monotonic = time.monotonic
        w = self.window
        try:
            while not cmd.done and cmd.error is None and self._failure is None:
                timeout = ack_timeout
                if w.inflight:
                    timeout = max(0.0, self._last_rx + ack_timeout - monotonic())
                if deadline is not None:
                    timeout = min(timeout, deadline - monotonic())
                    if timeout <= 0:
                        return  # wait() raises the timeout
                self._read_step(timeout)
                if self._wake:
                    self._wake = False
                    if self._waiters > 1:  # others wait for lines this read completed
                        with self._cond:
                            self._cond.notify_all()
        except MachineError as exc:
            if not self._closing:
                self.fail(exc)
        except Exception as exc:  # as in _read_loop
            self.fail(ProtocolError(f"reader stopped: {exc!r}"))

    def _read_step(self, timeout: float) -> None:
        """One read and the complete reply lines it brings (by the holder of the reading role)."""
        w = self.window
        gather = self._gather
        if gather is not None:
            # While the planner has a backlog, the next ok alone sends nothing (Window.defer):
            # sleep until the ok that does (its first byte: ok lines vary in length) has come.
            oks = 0 if self._waiters else w.gather_oks()
            gather(oks * self._ok_len + 1 if oks else 0)
        data = self.transport.read(timeout)
        if not data:
            self._check_timeout()
            return
        self._last_rx = time.monotonic()
        if self._partial:
            data = self._partial + data
            self._partial = b""
        if data[-1:] != b"\n":
            cut = data.rfind(b"\n") + 1
            self._partial = data[cut:]
            if not cut:
                return
            data = data[:cut]
        self._handle(data)

    def _check_timeout(self) -> None:
        with self._cond:
            if not (self.window.inflight and time.monotonic() - self._last_rx >= self.config.ack_timeout):
                return
            err = AckTimeoutError(
                f"no acknowledgement for {self._last_sent_text()!r} within {self.config.ack_timeout} s"
            )
        self.fail(err)

    def _handle(self, data: bytes) -> None:
        """Replies ending in a newline: acknowledge, then write what the acks made room for."""
        lines = data.split(b"\n")
        lines.pop()
        reports: list[Reply] = []
        failure: MachineError | None = None
        acked = False
        batch: list[Command] | None = None
        w = self.window
        with self._cond:
            for raw in lines:
                m = fast_ok(raw)
                if m is not None:
                    self._ok_len = len(raw) + 1
                    planner, free = m.groups()
                    cmd = w.on_ok(None if free is None else int(free), None if planner is None else int(planner))
                    if cmd is not None:
                        cmd.response.append("ok" if len(raw) < 4 else raw.decode("ascii").strip())
                        self._done(cmd)
                    acked = True
                    continue
                text = raw.decode("ascii", "replace").strip("\r\x00 ")
                if text:
                    failure, ack = self._handle_slow(text, reports)
                    acked = acked or ack
                    if failure is not None:
                        break
            if not self.started.is_set():
                self.started.set()
            if acked:
                # Waiters are woken just before the reader blocks again (_read_loop): woken now,
                # they would only wait a second time, for the interpreter lock this thread holds.
                self._wake = self._wake or self._waiters > 0
                # Nothing waiting to be sent (a round trip's reply): no write lock, no _take.
                if not (w.resend or self._urgent or self._normal or self._stream):
                    acked = False
                elif failure is None and self._write_lock.acquire(blocking=False):
                    self._kick = False
                    batch = self._take()
        if self.line_listeners:
            for raw in lines:
                text = raw.decode("ascii", "replace").strip("\r\x00 ")
                if text:
                    self._notify_line("in", text)
        for reply in reports:
            for fn in self.reply_listeners:
                with contextlib.suppress(Exception):
                    fn(reply)
        if failure is not None:
            self.fail(failure)
        elif batch is not None:
            self._pump(batch)
        elif acked:
            self._pump()

    def _handle_slow(self, text: str, reports: list[Reply]) -> tuple[MachineError | None, bool]:
        """Any reply but a plain ``ok``: (a failure, whether a line was completed or requeued)."""
        w = self.window
        reply = parse_reply(text)
        if reply.temperatures or reply.position:
            reports.append(reply)  # only reports interest the listeners
        kind = reply.kind
        if kind is ReplyKind.OK:
            cmd = w.on_ok(reply.buffer_free, reply.planner_free)
            if cmd is not None:
                cmd.response.append(text)
                self._done(cmd)
            return None, True
        if kind is ReplyKind.RESEND:
            done, failure = w.on_resend(reply.line or 0)
            for cmd in done:
                self._done(cmd)
            return failure, True
        if kind is ReplyKind.ERROR:
            if not is_recoverable_error(text):
                last = self._last_sent_text()
                return FirmwareHaltError(f"firmware halted: {text!r} (last line sent {last!r})"), False
            return None, False
        if kind is ReplyKind.WAIT:
            return None, w.on_wait()
        if kind is ReplyKind.START:
            self.started.set()
            if w.history or w.inflight:
                return FirmwareHaltError("the firmware restarted (it said 'start'); reconnect"), False
            return None, False
        if kind is not ReplyKind.BUSY and w.inflight:  # busy only restarts the acknowledgement timer
            head = w.inflight[0]
            # An auto-report (M155) is nobody's answer; M105/M109/M190 do own theirs.
            if not reply.temperatures or head.text[:4].upper() in _TEMP_OWNERS:
                head.response.append(text)
        return None, False

    def _done(self, cmd: Command) -> None:
        cmd.done = True
        s = cmd.stream
        if s is not None:
            s.acked += 1
            if s.on_progress is not None:
                with contextlib.suppress(Exception):
                    s.on_progress(s)
            if s is self._stream and s.exhausted and s.acked == s.sent:
                self._finish_stream(None)
