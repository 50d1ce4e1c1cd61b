"""The sender: numbers, frames and streams lines to the firmware; one reader thread completes them.

Klipper's ``serialhdl`` shape: a single background thread owns reading the port and
completes waiting callers through a ``threading.Condition``; nobody polls with ``sleep``.
Writes happen in whichever thread finds room in the window (usually the reader, right
after an ``ok``), serialised by a write lock taken without blocking plus a re-check, so
the reader never waits for a writer.

Flow control: ``pingpong`` keeps one line unacknowledged; ``buffered`` keeps lines in
flight while their framed bytes fit ``rx_size`` (character counting) and, once the firmware
sent ADVANCED_OK replies, no more lines than the largest free-slot count (``B``) it reported.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from scriptdeck.errors import (
    AckTimeoutError,
    FirmwareHaltError,
    MachineError,
    NotConnectedError,
    ProtocolError,
    RunCancelledError,
)
from scriptdeck.machine.protocol import Reply, ReplyKind, clean_line, frame, is_recoverable_error, parse_reply
from scriptdeck.machine.transport import Transport

__all__ = ["Command", "Sender", "SenderConfig", "Stream"]

# Emergency commands Marlin's parser acts on as they arrive: sent at once when their bytes
# fit the receive buffer, else first in line (M112 always at once: the firmware halts anyway).
EMERGENCY = ("M112", "M410", "M108")


@dataclass(slots=True)
class SenderConfig:
    flow: str = "buffered"  # "pingpong" | "buffered"
    rx_size: int = 128  # the firmware's receive buffer in bytes (Marlin's default RX_BUFFER_SIZE)
    ack_timeout: float = 10.0  # seconds without any reply while a line is unacknowledged
    history: int = 512  # lines kept for resends (also caps the lines in flight)
    max_queue: int = 10_000  # a writer blocks when this many lines wait to be sent

    def __post_init__(self) -> None:
        if self.flow not in ("pingpong", "buffered"):
            raise ProtocolError(f"flow control has value {self.flow!r}; expected 'pingpong' or 'buffered'")
        if self.rx_size < 0 or self.ack_timeout <= 0 or self.history < 1:
            raise ProtocolError("rx_size must be ≥ 0, ack_timeout > 0 and history ≥ 1")


class Command:
    """One line on its way to the firmware; ``response`` holds the reply lines once acknowledged."""

    __slots__ = ("data", "done", "error", "n", "response", "stream", "text")

    def __init__(self, text: str, stream: Stream | None = None) -> None:
        self.text = text
        self.n: int | None = None
        self.data = b""
        self.done = False
        self.error: BaseException | None = None
        self.response: list[str] = []
        self.stream = stream

    def __repr__(self) -> str:
        return f"Command({self.text!r}, n={self.n}, done={self.done})"


class Stream:
    """Lines pulled lazily by the sender (a print job, a long script): progress without a
    thread hand-off per line. ``acked``/``sent`` count lines; ``wait()`` returns at the end."""

    def __init__(self, lines: Iterable[str], total: int | None = None) -> None:
        self._lines: Iterator[str] = iter(lines)
        self.total = total
        self.sent = 0
        self.acked = 0
        self.exhausted = False
        self.cancelled = False
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.on_progress: Callable[[Stream], None] | None = None

    def next_line(self) -> str | None:
        for raw in self._lines:
            line = clean_line(raw)
            if line:
                return line
        self.exhausted = True
        return None


class Sender:
    """Owns one transport. ``start()`` launches the reader; ``close()`` stops it."""

    def __init__(self, transport: Transport, config: SenderConfig | None = None) -> None:
        self.transport = transport
        self.config = config or SenderConfig()
        self._cond = threading.Condition(threading.Lock())
        self._write_lock = threading.Lock()
        self._urgent: deque[Command] = deque()
        self._normal: deque[Command] = deque()
        self._resend: deque[Command] = deque()
        self._inflight: deque[Command] = deque()
        self._inflight_bytes = 0
        self._history: dict[int, Command] = {}
        self._stream: Stream | None = None
        self._next_n = 1
        self._swallow_ok = 0
        self._cycle_n: int | None = None  # the line of the resend request being served
        self._after_wait = False  # a "wait" came and no ok since
        self._stale = 0  # how many more requests for it may still come from lines sent earlier
        self._slots: int | None = None  # largest ADVANCED_OK B seen
        self._last_sent = ""
        self._last_rx = time.monotonic()
        self._failure: MachineError | None = None
        self._waiters = 0
        self._closing = False
        self.paused = False
        self.started = threading.Event()  # the firmware said "start" (or anything)
        self.line_listeners: list[Callable[[str, str], None]] = []  # (direction "in"/"out", text)
        self.reply_listeners: list[Callable[[Reply], None]] = []  # replies carrying temperatures/position
        self.failure_listeners: list[Callable[[MachineError], None]] = []
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
            return not (self._inflight or self._urgent or self._normal or self._resend or self._stream)

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
            self._check_size(cmd)
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
                    self._cond.wait(remaining)
            finally:
                self._waiters -= 1
        if cmd.error is not None:
            raise cmd.error
        return cmd.response

    def request(self, text: str, timeout: float | None = None, *, urgent: bool = False) -> list[str]:
        return self.wait(self.send(text, urgent=urgent), timeout)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Block until every queued line is acknowledged."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            try:
                while self._inflight or self._urgent or self._normal or self._resend or self._stream:
                    self._check()
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise AckTimeoutError(f"lines still unacknowledged after {timeout} s; last sent {self._last_sent!r}")
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
            for q in (self._urgent, self._normal, self._resend, self._inflight):
                for cmd in q:
                    if not cmd.done:
                        cmd.error = error
                q.clear()
            if self._stream is not None:
                self._finish_stream(error)
            self._cond.notify_all()
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

    def _check_size(self, cmd: Command) -> None:
        size = len(frame(self._next_n + 10_000, cmd.text))
        if self.config.rx_size and size > self.config.rx_size:
            raise ProtocolError(
                f"line {cmd.text!r} is {size} bytes framed, more than the firmware's receive buffer "
                f"of {self.config.rx_size} bytes can take"
            )

    def _send_emergency(self, cmd: Command) -> None:
        # Unnumbered: Marlin's emergency parser acts on arrival; the line then queues like any
        # unnumbered command and is acknowledged in order, so it joins the in-flight FIFO.
        data = cmd.text.encode() + b"\n"
        halt = cmd.text.upper().startswith("M112")
        with self._write_lock:
            with self._cond:
                self._check()
                fits = not self.config.rx_size or self._inflight_bytes + len(data) <= self.config.rx_size
                if not (halt or fits):
                    self._urgent.appendleft(cmd)
                    data = b""
                else:
                    cmd.data = data
                    if halt:
                        cmd.done = True
                    else:
                        self._inflight.append(cmd)
                        self._inflight_bytes += len(data)
                    self._last_sent = cmd.text
            if data:
                self._write([cmd])
        if not data:
            self._pump()

    def _room(self, cmd: Command) -> bool:
        if not self._inflight:
            return True
        if self.config.flow == "pingpong" or len(self._inflight) >= self.config.history:
            return False
        if self._slots is not None and len(self._inflight) >= self._slots:
            return False
        if self.config.rx_size:
            size = len(cmd.data) if cmd.data else len(cmd.text) + 12
            return self._inflight_bytes + size <= self.config.rx_size
        return True

    def _number(self, cmd: Command) -> None:
        head = cmd.text[:4].upper()
        if head == "M110":
            words = cmd.text[4:].upper().split()
            target = next((int(w[1:]) for w in words if w.startswith("N") and w[1:].lstrip("-").isdigit()), None)
            n = self._next_n if target is None else target
            self._history.clear()  # older numbers mean nothing to the firmware any more
        else:
            n = self._next_n
        cmd.n = n
        cmd.data = frame(n, cmd.text)
        self._next_n = n + 1
        self._history[n] = cmd
        if len(self._history) > self.config.history:
            del self._history[next(iter(self._history))]

    def _next_sendable(self) -> Command | None:
        if self._resend:
            return self._resend[0]
        if self._urgent:
            return self._urgent[0]
        if self.paused:
            return None
        if self._normal:
            return self._normal[0]
        s = self._stream
        if s is not None and not s.exhausted and not s.cancelled:
            text = s.next_line()
            if text is None:
                if s.acked == s.sent:
                    self._finish_stream(None)
                return None
            cmd = Command(text, s)
            self._normal.append(cmd)
            return cmd
        return None

    def _take(self) -> list[Command]:
        batch: list[Command] = []
        if not self._inflight:
            self._last_rx = time.monotonic()  # the acknowledgement clock starts now
        while self._failure is None:
            cmd = self._next_sendable()
            if cmd is None or not self._room(cmd):
                break
            if self._resend and self._resend[0] is cmd:
                self._resend.popleft()
            elif self._urgent and self._urgent[0] is cmd:
                self._urgent.popleft()
            else:
                self._normal.popleft()
                if cmd.stream is not None:
                    cmd.stream.sent += 1
            if not cmd.data:
                self._number(cmd)
            self._inflight.append(cmd)
            self._inflight_bytes += len(cmd.data)
            batch.append(cmd)
        if batch:
            self._last_sent = batch[-1].data.decode("ascii", "replace").strip()
            if self._waiters and len(self._normal) < self.config.max_queue:
                self._cond.notify_all()
        return batch

    def _sendable(self) -> bool:
        cmd = self._resend[0] if self._resend else self._urgent[0] if self._urgent else None
        if cmd is None and not self.paused:
            if self._normal:
                cmd = self._normal[0]
            elif self._stream is not None and not self._stream.exhausted and not self._stream.cancelled:
                return not self._inflight or self._room(Command("G1 X0 Y0"))
        return cmd is not None and self._failure is None and self._room(cmd)

    def _pump(self) -> None:
        while True:
            if not self._write_lock.acquire(blocking=False):
                return  # the holder re-checks after releasing, see the module docstring
            try:
                with self._cond:
                    batch = self._take()
                if batch:
                    self._write(batch)
            finally:
                self._write_lock.release()
            with self._cond:
                if not self._sendable():
                    return

    def _write(self, batch: list[Command]) -> None:
        try:
            self.transport.write(b"".join(c.data for c in batch))
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
        buf = b""
        try:
            while self._failure is None:
                # Idle, the read still wakes every ack_timeout: a line sent meanwhile starts its
                # clock when it is sent (_take), and is checked at the latest one period later.
                timeout = self.config.ack_timeout
                with self._cond:
                    if self._inflight:
                        timeout = max(0.0, self._last_rx + self.config.ack_timeout - time.monotonic())
                data = self.transport.read(timeout)
                if not data:
                    self._check_timeout()
                    continue
                self._last_rx = time.monotonic()
                buf += data
                if b"\n" not in data:
                    continue
                *lines, buf = buf.split(b"\n")
                self._handle([raw.decode("ascii", "replace").strip("\r\x00 ") for raw in lines])
        except MachineError as exc:
            if not self._closing:
                self.fail(exc)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            self.fail(ProtocolError(f"reader stopped: {exc!r}"))

    def _check_timeout(self) -> None:
        with self._cond:
            if self._inflight and time.monotonic() - self._last_rx >= self.config.ack_timeout:
                err = AckTimeoutError(
                    f"no acknowledgement for {self._last_sent!r} within {self.config.ack_timeout} s"
                )
            else:
                return
        self.fail(err)

    def _handle(self, lines: list[str]) -> None:
        replies: list[Reply] = []
        failure: MachineError | None = None
        acked = False
        with self._cond:
            for text in lines:
                if not text:
                    continue
                reply = parse_reply(text)
                replies.append(reply)
                kind = reply.kind
                if kind is ReplyKind.OK:
                    acked = self._on_ok(reply) or acked
                elif kind is ReplyKind.RESEND:
                    failure = self._on_resend(reply.line or 0)
                    acked = True
                elif kind is ReplyKind.ERROR:
                    if not is_recoverable_error(text):
                        failure = FirmwareHaltError(f"firmware halted: {text!r} (last line sent {self._last_sent!r})")
                elif kind is ReplyKind.BUSY:
                    pass  # a keep-alive: it only restarts the acknowledgement timer
                elif kind is ReplyKind.WAIT:
                    # Marlin says "wait" only with an empty queue: lines in flight were lost.
                    if self._inflight and not self._resend:
                        self._cycle_n = None
                        self._after_wait = True
                        self._requeue(self._inflight[0].n)
                        acked = True
                elif kind is ReplyKind.START:
                    if self._history or self._inflight:
                        failure = FirmwareHaltError("the firmware restarted (it said 'start'); reconnect")
                    self.started.set()
                elif self._inflight:
                    head = self._inflight[0]
                    # An auto-report (M155) is nobody's answer; M105/M109/M190 do own theirs.
                    if not reply.temperatures or head.text[:4].upper() in ("M105", "M109", "M190"):
                        head.response.append(text)
                if failure is not None:
                    break
            if not self.started.is_set():
                self.started.set()
            if acked and self._waiters:
                self._cond.notify_all()
        if self.line_listeners:
            for text in lines:
                if text:
                    self._notify_line("in", text)
        if self.reply_listeners:
            for reply in replies:
                if reply.temperatures or reply.position:  # only reports interest the listeners
                    for fn in self.reply_listeners:
                        with contextlib.suppress(Exception):
                            fn(reply)
        if failure is not None:
            self.fail(failure)
        elif acked:
            self._pump()

    def _on_ok(self, reply: Reply) -> bool:
        self._after_wait = False
        if self._swallow_ok:
            self._swallow_ok -= 1  # the "ok" that closes a resend request acknowledges nothing
            return True
        if reply.buffer_free is not None:
            self._slots = max(self._slots or 1, reply.buffer_free)
        if not self._inflight:
            return False
        cmd = self._inflight.popleft()
        self._inflight_bytes -= len(cmd.data)
        cmd.response.append(reply.text)
        cmd.done = True
        s = cmd.stream
        if s is not None:
            s.acked += 1
            if s.on_progress is not None:
                with contextlib.suppress(Exception):
                    s.on_progress(s)
            if s is self._stream and s.exhausted and s.acked == s.sent:
                self._finish_stream(None)
        return True

    def _on_resend(self, n: int) -> MachineError | None:
        self._swallow_ok += 1  # every resend request is followed by an "ok" that acknowledges nothing
        if n == self._cycle_n and self._stale > 0:
            # Lines sent after the bad one are rejected too, each asking for n again: the
            # request is already being served (OctoPrint's resend delta does the same).
            self._stale -= 1
            return None
        if self._after_wait:
            # After "wait" the firmware's queue was empty, so no ok is pending for lines it took:
            # those below n were executed (OctoPrint's virtual printer does this) — complete them.
            while self._inflight and self._inflight[0].n is not None and self._inflight[0].n < n:
                done = self._inflight.popleft()
                self._inflight_bytes -= len(done.data)
                done.done = True
        if n == self._next_n and not any(c.n is not None and c.n >= n for c in self._inflight):
            return None  # the firmware wants the line we have not sent yet: nothing to redo
        if n not in self._history or n > self._next_n:
            known = f"{min(self._history)}..{max(self._history)}" if self._history else "none"
            return ProtocolError(f"firmware asked to resend line {n}, but the resend history holds lines {known}")
        self._cycle_n = n
        self._stale = sum(1 for c in self._inflight if c.n is not None and c.n > n)
        self._requeue(n)
        return None

    def _requeue(self, n: int | None) -> None:
        """Put lines numbered ≥ n back to be sent again, in order.

        Lines the firmware acknowledged but now asks for again come from the history: Marlin
        rejects a duplicate by its number, so resending too much costs time, never a double move.
        """
        if n is None:
            return
        keep: deque[Command] = deque()
        again: list[Command] = []
        for cmd in self._inflight:
            if cmd.n is not None and cmd.n >= n:
                again.append(cmd)
                self._inflight_bytes -= len(cmd.data)
            else:
                keep.append(cmd)
        self._inflight = keep
        pending = again + [c for c in self._resend if c not in again]
        first = min((c.n for c in pending if c.n is not None), default=self._next_n)
        if n < first:
            pending += [_ghost(self._history[k]) for k in range(n, first) if k in self._history]
        pending.sort(key=lambda c: c.n if c.n is not None else 0)
        self._resend = deque(pending)


def _ghost(cmd: Command) -> Command:
    copy = Command(cmd.text)
    copy.n, copy.data = cmd.n, cmd.data
    return copy

