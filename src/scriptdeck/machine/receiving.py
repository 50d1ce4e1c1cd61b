"""The sender's reading side: the reader thread, the reading role, and replies matched to lines in flight.

:class:`Receiver` is the base class of :class:`~scriptdeck.machine.sender.Sender`: one object,
split in two modules for size, not two objects — a method here calls the writing side
(``_take``, ``_pump``) as directly as its own, since the streaming hot path is counted in
interpreted instructions per line. ``Sender.__init__`` sets the state declared here and says
what each attribute is for.

The hot path is one reader wake-up per burst of replies: plain and ADVANCED_OK ``ok`` lines
are matched on raw bytes (no decoding, no :class:`Reply`), the lines they make room for are
framed and written in one ``write``, and the condition is only notified when someone waits.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from scriptdeck.errors import AckTimeoutError, FirmwareHaltError, MachineError, ProtocolError
from scriptdeck.machine.commands import Command, SenderConfig, Stream
from scriptdeck.machine.protocol import Reply, ReplyKind, fast_ok, frame, is_recoverable_error, parse_reply
from scriptdeck.machine.transport import Transport
from scriptdeck.machine.window import Window

__all__ = ["PARK_S", "Receiver"]

# Commands whose temperature report is their answer; any other report is an auto-report (M155).
_TEMP_OWNERS = ("M105", "M109", "M190")
# Commands a firmware may work on for minutes without a word (Marlin sends "busy" keep-alives
# only when built with HOST_KEEPALIVE_FEATURE): while one is the oldest line in flight, an
# auto-report too says the firmware is alive and on it, so it restarts the acknowledgement
# clock (OctoPrint's "long running commands"); for any other line it does not (see _handle).
LONG_RUNNING = frozenset(("G4", "G28", "G29", "G30", "G32", "G33", "G34", "G76", "M109", "M190",
                          "M191", "M226", "M303", "M400", "M600", "M0", "M1"))
# How long the reader thread leaves the port to callers after answering one (see Receiver._park).
PARK_S = 0.05


class Receiver:
    """The reading half of a :class:`~scriptdeck.machine.sender.Sender`; never used on its own."""

    # Set by Sender.__init__; declared here so the type checker knows this half's state.
    transport: Transport
    config: SenderConfig
    window: Window
    paused: bool
    position_reports: bool
    started: threading.Event
    line_listeners: list[Callable[[str, str], None]]
    reply_listeners: list[Callable[[Reply], None]]
    _lock: threading.Lock
    _cond: threading.Condition
    _unpark: threading.Condition
    _reading: threading.Lock
    _parked: bool
    _claims: int
    _resume: bool
    _partial: bytes
    _write_lock: threading.Lock
    _kick: bool
    _urgent: deque[Command]
    _normal: deque[Command]
    _stream: Stream | None
    _last_sent: Command | None
    _last_rx: float
    _failure: MachineError | None
    _waiters: int
    _wake: bool
    _ok_len: int
    _closing: bool
    _greeted: bool
    _gather: Callable[[int], None] | None

    if TYPE_CHECKING:
        # The writing side, defined in Sender (declared only for the type checker: at run time
        # the methods are Sender's own, looked up with no stub in between).
        def fail(self, error: MachineError) -> None: ...
        def _busy(self) -> bool: ...
        def _last_sent_text(self) -> str: ...
        def _take(self) -> list[Command]: ...
        def _pump(self, batch: list[Command] | None = None) -> None: ...
        def _write(self, batch: list[Command]) -> None: ...
        def _notify_line(self, direction: str, text: str) -> None: ...
        def _finish_stream(self, error: BaseException | None) -> None: ...

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
                    with self._lock:
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
        with self._lock:
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
                        with self._lock:
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
        while data:
            data = self._received(data)

    def _received(self, data: bytes) -> bytes:
        """Bytes just read: handle the complete lines; returns bytes read meanwhile (see _stream_step)."""
        now = time.monotonic()  # the acknowledgement clock restarts here if the lines are news (_handle)
        if self._partial:
            data = self._partial + data
            self._partial = b""
        if data[-1:] != b"\n":
            cut = data.rfind(b"\n") + 1
            self._partial = data[cut:]
            if not cut:
                return b""  # half a line says nothing yet (it may be an auto-report)
            data = data[:cut]
        return self._handle(data, now)

    def _check_timeout(self) -> None:
        with self._lock:
            if not (self.window.inflight and time.monotonic() - self._last_rx >= self.config.ack_timeout):
                return
            err = AckTimeoutError(
                f"no acknowledgement for {self._last_sent_text()!r} within {self.config.ack_timeout} s"
            )
        self.fail(err)

    def _handle(self, data: bytes, now: float) -> bytes:
        """Replies ending in a newline, read at ``now``: acknowledge, then write what the acks made
        room for. Returns the bytes the ping-pong streaming loop read after them (b"" if none)."""
        if len(data) == 3 * data.count(b"ok\n"):
            if now > self._last_rx:
                self._last_rx = now
            return self._handle_oks(len(data) // 3)  # nothing but plain oks: streaming's hot path
        lines = data.split(b"\n")
        lines.pop()
        reports: list[Reply] = []
        failure: MachineError | None = None
        acked = False
        alive = False  # a line that tells the firmware is working on ours (not only auto-reports)
        stalled = False
        batch: list[Command] | None = None
        w = self.window
        with self._lock:
            for raw in lines:
                m = fast_ok(raw)
                if m is not None:
                    alive = True
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
                    failure, ack, news = self._handle_slow(text, reports)
                    acked = acked or ack
                    alive = alive or news
                    if failure is not None:
                        break
                else:
                    alive = True
            if alive:
                if now > self._last_rx:  # not back: a line sent since the read started its clock (_take)
                    self._last_rx = now
            else:
                # Only auto-reports (M155/M154): they come whether or not the firmware got our
                # line, so they must not hold off the acknowledgement timeout forever.
                stalled = bool(w.inflight) and time.monotonic() - self._last_rx >= self.config.ack_timeout
            if not self._greeted:
                self._greeted = True
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
        elif stalled:
            self._check_timeout()
        return b""

    def _handle_oks(self, count: int) -> bytes:
        """``count`` plain ``ok`` lines: :meth:`_handle` without splitting, matching or parsing."""
        w = self.window
        batch: list[Command] | None = None
        if count == 1 and w.cap == 1 and self._stream is not None:
            more = self._stream_step()
            if more is not None:
                return more
        with self._lock:
            for _ in range(count):
                cmd = w.on_ok(None)
                if cmd is not None:
                    cmd.response.append("ok")
                    self._done(cmd)
            self._ok_len = 3
            if not self._greeted:
                self._greeted = True
                self.started.set()
            if self._waiters:
                self._wake = True  # woken just before the reader blocks again, see _handle
            if not (w.resend or self._urgent or self._normal or self._stream):
                count = -count  # nothing to send: no write lock, no _take
            elif self._write_lock.acquire(blocking=False):
                self._kick = False
                batch = self._take()
        if self.line_listeners:
            for _ in range(abs(count)):
                self._notify_line("in", "ok")
        if batch is not None:
            self._pump(batch)
        elif count > 0:
            self._pump()
        return b""

    def _stream_step(self) -> bytes | None:
        """Ping-pong streaming's hot loop, from one plain ``ok``: complete the one line in flight,
        write the stream's next line in its place, read the next reply, and again while it is a
        plain ``ok`` — no pass through the read loop and reply parsing per line.

        Only while nothing else is going on — no line queued, urgent or to resend, no pause,
        waiter or line listener, the write lock free, an ordinary next line. Returns None having
        changed nothing, else the first bytes read that the general path must handle (b"" if none).
        """
        w = self.window
        read = self.transport.read
        monotonic = time.monotonic
        ack_timeout = self.config.ack_timeout
        handed: bytes | None = None  # what to return when the loop may go no further
        while True:
            with self._lock:
                s = self._stream
                if (
                    s is None
                    or len(w.inflight) != 1
                    or w.swallow_ok
                    or w.resend
                    or self._urgent
                    or self._normal
                    or self.paused
                    or self._waiters
                    or self.line_listeners
                    or not self._greeted
                    or not self._write_lock.acquire(blocking=False)
                ):
                    return handed
                self._kick = False
                w.after_wait = False
                done = w.inflight.popleft()
                w.held = 0
                done.response.append("ok")
                self._done(done)
                text = None if self._stream is not s or s.cancelled else s.next_line()
                fast = False
                if text is None:
                    if self._stream is s and s.acked == s.sent:
                        self._finish_stream(None)
                    batch = self._take()
                else:
                    cmd = Command(text, s)
                    n = w.next_n
                    if text[:4] in ("M110", "m110") or (w.rx_size and len(text) + 20 > w.rx_size):
                        self._normal.append(cmd)  # a renumbering or long line: the general path
                        batch = self._take()
                    else:
                        cmd.n = n
                        cmd.data = frame(n, text)
                        s.sent += 1
                        w.push(cmd, True)
                        self._last_sent = cmd
                        batch = [cmd]
                        fast = True
            if not fast:
                self._pump(batch)
                return b""
            self._write(batch)  # _pump's work for one line, with the write lock already held
            self._write_lock.release()
            if self._kick:
                self._pump()  # someone found the lock taken meanwhile: take for them
            if self._failure is not None:
                return b""
            # The reply to the line just written: read here, by the reader thread (the only one
            # that runs this: a caller reading for itself is a waiter). Silence or anything but a
            # plain ok goes back to the read loop, which keeps the timeout and the reply handling.
            data = read(ack_timeout)
            if data != b"ok\n":
                return data
            self._last_rx = monotonic()
            handed = b"ok\n"  # from here on, an ok the loop cannot take is the general path's

    def _handle_slow(self, text: str, reports: list[Reply]) -> tuple[MachineError | None, bool, bool]:
        """Any reply but a plain ``ok``: (a failure, whether a line was completed or requeued,
        whether it is news of the lines in flight — False for an auto-report nobody asked for)."""
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
            return None, True, True
        if kind is ReplyKind.RESEND:
            done, failure = w.on_resend(reply.line or 0)
            for cmd in done:
                self._done(cmd)
            return failure, True, True
        if kind is ReplyKind.ERROR:
            if not is_recoverable_error(text):
                last = self._last_sent_text()
                return FirmwareHaltError(f"firmware halted: {text!r} (last line sent {last!r})"), False, True
            return None, False, True
        if kind is ReplyKind.WAIT:
            return None, w.on_wait(), True
        if kind is ReplyKind.START:
            self.started.set()
            if w.history or w.inflight:
                return FirmwareHaltError("the firmware restarted (it said 'start'); reconnect"), False, True
            return None, False, True
        if not w.inflight:
            return None, False, True
        head = w.inflight[0]
        if kind is ReplyKind.BUSY:  # restarts the acknowledgement timer
            w.working = head
            return None, False, True
        # An auto-report (M155, M154) is nobody's answer; M105/M109/M190 and M114 own theirs.
        if reply.temperatures:
            owned = head.text[:4].upper() in _TEMP_OWNERS
            if owned and head.text[:4].upper() != "M105":
                w.working = head  # M109/M190 report while they wait
        elif reply.position and self.position_reports:
            owned = head.text[:4].upper() == "M114"
        else:
            owned = True
        if owned:
            head.response.append(text)
            return None, False, True
        return None, False, _command_word(head.text) in LONG_RUNNING

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


def _command_word(text: str) -> str:
    """``"g4 P500"`` → ``"G4"``; ``"G04"`` → ``"G4"`` (Marlin reads the number)."""
    word = text.split(None, 1)[0].upper() if text else ""
    letter, digits = word[:1], word[1:].lstrip("0")
    return letter + (digits or "0") if word[1:].isdigit() else word
