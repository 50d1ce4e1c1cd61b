"""Ctrl-C and SIGTERM around work that drives a machine.

Inside ``cancel_signals()`` the first Ctrl-C or SIGTERM raises ``KeyboardInterrupt`` (so a
process manager's stop cancels a print or run as Ctrl-C does); later ones only print a note,
so the cancel and its abort sequence (e.g. heaters off) run to the end. A second Ctrl-C used
to cut them short — and, raised while the first was still unwinding through ``threading``,
could even break a lock.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["cancel_signals"]

STILL_CANCELLING = "still cancelling: the abort sequence is on its way to the machine"


@contextmanager
def cancel_signals(note: str = STILL_CANCELLING) -> Iterator[None]:
    raised = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal raised
        if raised:
            print(note, file=sys.stderr, flush=True)
            return
        raised = True
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
