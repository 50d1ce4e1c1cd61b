"""What passes through the sender: its configuration, one line (:class:`Command`), a lazy feed (:class:`Stream`).

Plain values with no locking of their own; the sender changes them under its condition lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from scriptdeck.errors import ProtocolError
from scriptdeck.machine.protocol import clean_line

__all__ = ["Command", "SenderConfig", "Stream"]


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

    def ghost(self) -> Command:
        """A copy to send again (an already acknowledged line the firmware asks for once more)."""
        copy = Command(self.text)
        copy.n, copy.data = self.n, self.data
        return copy

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
