"""The send window: lines on their way to the firmware, what they occupy there, and what to send again.

Split from the sender so flow control and resend bookkeeping can be read (and tested) apart
from the threads that drive them. Everything here runs under the sender's condition lock.

Flow control: ``pingpong`` allows one unacknowledged line; ``buffered`` allows lines while the
framed bytes of every unacknowledged line fit ``rx_size`` (character counting: a line sent
but not acknowledged may still sit in the firmware's RX buffer, whatever the firmware is busy
with, so this never overflows it) and, once the firmware sent ADVANCED_OK replies, no more
lines than the largest free-slot count (``B``) it reported.
"""

from __future__ import annotations

from collections import deque

from scriptdeck.errors import MachineError, ProtocolError
from scriptdeck.machine.commands import Command, SenderConfig
from scriptdeck.machine.protocol import frame

__all__ = ["BACKLOG", "Window"]

# Planned moves (ADVANCED_OK P) that keep the firmware busy for a while: with this many queued,
# the sender tops the window up every other ok, in one write, instead of after each ok.
BACKLOG = 4
# With this many planned (moves of a few ms each), the sender waits for every line in flight
# to be acknowledged and refills the whole window in one write: one wake-up per window, not per
# two oks, while the planned moves outlast the few lines the RX buffer holds.
DEEP_BACKLOG = 8


class Window:
    """In-flight FIFO, byte and slot accounting, line numbers, the resend history and cycle."""

    __slots__ = (
        "after_wait",
        "backlog",
        "cap",
        "cycle_n",
        "deep",
        "held",
        "history",
        "history_size",
        "inflight",
        "max_lines",
        "next_n",
        "oldest",
        "planner_size",
        "resend",
        "rx_size",
        "slots",
        "stale",
        "swallow_ok",
        "working",
    )

    def __init__(self, config: SenderConfig) -> None:
        self.rx_size = config.rx_size
        self.max_lines = 1 if config.flow == "pingpong" else config.history
        self.history_size = config.history
        self.inflight: deque[Command] = deque()
        self.held = 0  # framed bytes of the in-flight lines
        self.slots: int | None = None  # largest ADVANCED_OK B seen
        self.cap = self.max_lines  # most lines in flight: max_lines, or slots once known
        self.planner_size = 0  # largest ADVANCED_OK P seen: the planner's size, about
        self.backlog = False  # the last ok said the planner holds BACKLOG moves or more
        self.deep = False  # ... and DEEP_BACKLOG moves or more
        self.resend: deque[Command] = deque()  # lines to send again, in order, before anything else
        self.history: dict[int, Command] = {}  # number → line, the last `history_size` numbered lines
        self.oldest = 1  # the smallest number that may be in `history`
        self.next_n = 1
        self.swallow_ok = 0  # "ok"s that close resend requests and acknowledge nothing
        self.cycle_n: int | None = None  # the line of the resend request being served
        self.after_wait = False  # a "wait" came and no ok since
        self.stale = 0  # how many more requests for cycle_n may still come from lines sent earlier
        # The line the firmware said it is executing (busy, or M109/M190's temperature reports):
        # it left the firmware's receive buffer, so an emergency line may use its bytes (Sender).
        self.working: Command | None = None

    # sending ---------------------------------------------------------------------------------
    def defer(self) -> bool:
        """Hold new lines back for now? Only while the planner has a backlog and a second ok
        (with a deep backlog: the last ok in flight) is due: the lines in flight and the planned
        moves keep the firmware busy meanwhile."""
        return self.backlog and len(self.inflight) > (0 if self.deep else 1)

    def gather_oks(self) -> int:
        """How many more oks to sleep through before the next read (see defer): 0, 1 or more."""
        n = len(self.inflight)
        if not self.backlog or n < 2:
            return 0
        if self.deep:
            return n - 1
        return 1 if n > 2 else 0

    def emergency_room(self, size: int) -> bool:
        """May an emergency line (M108, M410) of ``size`` bytes be written at once? Counted like
        any line, except that a head line the firmware is executing no longer takes room: an
        M108 must reach a firmware waiting in M109 behind a full window."""
        held = self.held
        if self.inflight and self.inflight[0] is self.working:
            held -= len(self.inflight[0].data)
        return not self.rx_size or held + size <= self.rx_size

    def room(self, size: int) -> bool:
        """May a line of ``size`` framed bytes be sent now?"""
        inflight = self.inflight
        if not inflight:
            return True  # one line alone always fits: longer lines are refused before queueing
        if len(inflight) >= self.cap:
            return False
        return not self.rx_size or self.held + size <= self.rx_size

    def check_size(self, text: str) -> None:
        """Refuse a line the firmware's RX buffer could never hold, even alone."""
        n = self.next_n + 10_000  # room for the number to grow before the line is sent
        if not self.rx_size or len(text) + len(str(n)) + 7 <= self.rx_size:  # "N<n> <text>*<ccc>\n"
            return
        size = len(frame(n, text))
        if size > self.rx_size:
            raise self.too_long(text, size)

    def too_long(self, text: str, size: int) -> ProtocolError:
        return ProtocolError(
            f"line {text!r} is {size} bytes framed, more than the firmware's receive buffer "
            f"of {self.rx_size} bytes can take"
        )

    def frame(self, cmd: Command) -> None:
        """Give ``cmd`` the number it gets if it is sent next, and its framed bytes.

        Framing happens before the room check so the check counts exact bytes; a line framed
        but overtaken (an urgent line went first) is framed again with its new number.
        """
        text = cmd.text
        if text[:4] in ("M110", "m110"):
            words = text[4:].upper().split()
            target = next((int(w[1:]) for w in words if w.startswith("N") and w[1:].lstrip("-").isdigit()), None)
            n = self.next_n if target is None else target
        else:
            n = self.next_n
            if cmd.n == n and cmd.data:
                return
        cmd.n = n
        cmd.data = frame(n, text)

    def push(self, cmd: Command, fresh: bool) -> None:
        """``cmd`` is being written: count it in flight; a ``fresh`` line also takes its number."""
        if fresh:
            n = cmd.n
            assert n is not None
            history = self.history
            if n != self.next_n or cmd.text[:4] in ("M110", "m110"):
                history.clear()  # M110: older numbers mean nothing to the firmware any more
                self.oldest = n
            history[n] = cmd
            self.next_n = n + 1
            if len(history) > self.history_size:
                history.pop(self.oldest, None)
                self.oldest += 1
        self.inflight.append(cmd)
        self.held += len(cmd.data)

    # receiving -------------------------------------------------------------------------------
    def on_ok(self, free: int | None, planner_free: int | None = None) -> Command | None:
        """An ``ok`` (``free``, ``planner_free``: its ADVANCED_OK ``B`` and ``P``): the line it
        acknowledges, if any."""
        self.after_wait = False
        if planner_free is not None:
            if planner_free > self.planner_size:
                self.planner_size = planner_free
            planned = self.planner_size - planner_free
            self.backlog = planned >= BACKLOG
            self.deep = planned >= DEEP_BACKLOG
        if self.swallow_ok:
            self.swallow_ok -= 1  # the "ok" that closes a resend request acknowledges nothing
            return None
        if free is not None and (self.slots is None or free > self.slots):
            self.slots = max(1, free)
            self.cap = min(self.max_lines, self.slots)
        if not self.inflight:
            return None
        cmd = self.inflight.popleft()
        self.held -= len(cmd.data)
        return cmd

    def on_wait(self) -> bool:
        """Marlin says "wait" only with an empty queue: lines in flight were lost; send them again."""
        if self.inflight and not self.resend:
            self.cycle_n = None
            self.after_wait = True
            self._requeue(self.inflight[0].n)
            return True
        return False

    def on_resend(self, n: int) -> tuple[list[Command], MachineError | None]:
        """``Resend: n``: the lines completed by it, and an error if the request cannot be met."""
        self.swallow_ok += 1  # every resend request is followed by an "ok" that acknowledges nothing
        done: list[Command] = []
        if n == self.cycle_n and self.stale > 0:
            # Lines sent after the bad one are rejected too, each asking for n again: the
            # request is already being served (OctoPrint's resend delta does the same).
            self.stale -= 1
            return done, None
        inflight = self.inflight
        if self.after_wait:
            # After "wait" the firmware's queue was empty, so no ok is pending for lines it took:
            # those below n were executed (OctoPrint's virtual printer does this) — complete them.
            while inflight and inflight[0].n is not None and inflight[0].n < n:
                cmd = inflight.popleft()
                self.held -= len(cmd.data)
                done.append(cmd)
        if n == self.next_n and not any(c.n is not None and c.n >= n for c in inflight):
            return done, None  # the firmware wants the line we have not sent yet: nothing to redo
        if n not in self.history or n > self.next_n:
            history = self.history
            known = f"{min(history)}..{max(history)}" if history else "none"
            return done, ProtocolError(
                f"firmware asked to resend line {n}, but the resend history holds lines {known}"
            )
        self.cycle_n = n
        self.stale = sum(1 for c in inflight if c.n is not None and c.n > n)
        self._requeue(n)
        return done, None

    def _requeue(self, n: int | None) -> None:
        """Put lines numbered ≥ n back to be sent again, in order.

        Lines the firmware acknowledged but now asks for again come from the history: Marlin
        rejects a duplicate by its number, so resending too much costs time, never a double move.
        """
        if n is None:
            return
        keep: deque[Command] = deque()
        again: list[Command] = []
        for cmd in self.inflight:
            if cmd.n is not None and cmd.n >= n:
                again.append(cmd)
                self.held -= len(cmd.data)
            else:
                keep.append(cmd)
        self.inflight = keep
        pending = again + [c for c in self.resend if c not in again]
        first = min((c.n for c in pending if c.n is not None), default=self.next_n)
        if n < first:
            pending += [self.history[k].ghost() for k in range(n, first) if k in self.history]
        pending.sort(key=lambda c: c.n if c.n is not None else 0)
        self.resend = deque(pending)

    def clear(self) -> list[Command]:
        """Forget every line in flight or to resend (the link failed); they are returned."""
        gone = [*self.resend, *self.inflight]
        self.resend.clear()
        self.inflight.clear()
        self.held = 0
        return gone
