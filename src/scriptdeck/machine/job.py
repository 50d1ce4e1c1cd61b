"""A print job: G-code lines streamed to a machine under a lease, with progress and ETA."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scriptdeck.errors import MachineError, RunCancelledError
from scriptdeck.machine.protocol import clean_line
from scriptdeck.machine.sender import Stream

if TYPE_CHECKING:
    from scriptdeck.machine.machine import Lease, Machine

__all__ = ["JobProgress", "PrintJob", "read_gcode"]


def read_gcode(path: Path) -> list[str]:
    """The commands of a G-code file, as `clean_line` leaves them, blank ones dropped.

    UserError when the file is not text (see `read_gcode_bytes`): the whole file is checked here,
    before a machine is even asked, so nothing of a binary file is ever sent.
    """
    # Imported here: the document package brings numpy (~130 ms), which nothing else in machine needs.
    from scriptdeck.document.textfile import read_gcode_bytes

    text = read_gcode_bytes(path).decode("utf-8", "replace")
    # newline=None: lines end at \n, \r\n or a lone \r, as when the file was read in text mode.
    return [line for line in (clean_line(raw) for raw in io.StringIO(text, newline=None)) if line]


@dataclass(frozen=True, slots=True)
class JobProgress:
    acked: int
    total: int
    elapsed: float  # seconds since start, paused time included
    eta: float | None  # estimated seconds remaining; None until a line is acknowledged
    state: str  # running, paused, done, cancelled, failed

    @property
    def fraction(self) -> float:
        return self.acked / self.total if self.total else 1.0


class PrintJob:
    """Started by :meth:`Machine.print_lines`; ``wait()`` for the end, ``progress`` meanwhile."""

    def __init__(self, machine: Machine, lease: Lease, lines: Sequence[str], name: str) -> None:
        self.machine = machine
        self.name = name
        self.lease = lease
        self.total = len(lines)
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self.error: BaseException | None = None
        self._state = "running"
        self._done = threading.Event()
        self._stream = Stream(lines, self.total)

    @classmethod
    def start(cls, machine: Machine, lines: Sequence[str], name: str) -> PrintJob:
        lines = [c for c in (clean_line(raw) for raw in lines) if c]
        lease = machine.lease(f"print job {name}")
        job = cls(machine, lease, lines, name)
        try:
            lease.stream(job._stream)
        except BaseException:
            lease.release()
            raise
        threading.Thread(target=job._watch, name=f"print-{name}", daemon=True).start()
        return job

    def _watch(self) -> None:
        stream = self._stream
        stream.finished.wait()
        self.ended_at = time.monotonic()
        self.error = stream.error
        if stream.error is None:
            self._state = "done"
        elif isinstance(stream.error, RunCancelledError):
            self._state = "cancelled"
        else:
            self._state = "failed"
        self.lease.release()
        self._done.set()

    @property
    def state(self) -> str:
        if self._state == "running" and self.machine.state.value == "paused" and self.lease.active:
            return "paused"
        return self._state

    @property
    def acked(self) -> int:
        return self._stream.acked

    @property
    def progress(self) -> JobProgress:
        acked = self._stream.acked
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        elapsed = end - self.started_at
        eta = None
        if acked:
            eta = 0.0 if acked >= self.total else elapsed / acked * (self.total - acked)
        return JobProgress(acked, self.total, elapsed, eta, self.state)

    def pause(self) -> None:
        self.machine.pause()

    def resume(self) -> None:
        self.machine.resume()

    def cancel(self) -> None:
        """Stop at once, send the machine's abort sequence, release the machine."""
        if self.lease.active:
            self.machine.cancel(f"print job {self.name} cancelled")

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job ended (done, cancelled or failed)."""
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None) -> JobProgress:
        """Wait for the end; raise the job's error if it did not finish."""
        if not self._done.wait(timeout):
            raise MachineError(f"print job {self.name!r} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.progress
