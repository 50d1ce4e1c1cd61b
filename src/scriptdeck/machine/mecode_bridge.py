"""A real ``mecode.G`` whose printer object (``g._p``) is scriptdeck's lease.

mecode 0.4.1's ``G.write`` only touches ``self._p`` in direct-write serial mode:
``self._p.get_response(line)`` when ``resp_needed`` else ``self._p.sendline(line)``, and it
creates its own ``Printer`` only while ``_p`` is ``None``; ``teardown()`` calls
``self._p.disconnect(wait)``. So a ``G`` built with ``setup=False`` (nothing written yet)
and ``_p`` set right after construction never opens a port of its own.

:class:`PrinterPort` is that contract. In the host, :class:`LeasePort` implements it over a
:class:`~scriptdeck.machine.machine.Lease`; in a worker process the runtime supplies one
that forwards each call over its RPC channel.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol, runtime_checkable

from scriptdeck.errors import MachineError
from scriptdeck.machine.machine import Lease
from scriptdeck.machine.protocol import parse_position, parse_temperatures

__all__ = ["LeasePort", "PrinterPort", "make_g"]

_KEEP = 1000  # responses / temperature readings kept (mecode keeps all; a long run would grow)


@runtime_checkable
class PrinterPort(Protocol):
    """What mecode's ``G`` and automation scripts call on ``g._p``."""

    responses: Any  # a sequence of response strings, newest last
    temp_readings: Any  # a sequence of temperature report lines, newest last

    def sendline(self, line: str) -> None: ...

    def get_response(self, line: str, timeout: float = 0) -> str: ...

    def current_position(self) -> dict[str, float]: ...

    def reset_linenumber(self, number: int = 0) -> None: ...

    def disconnect(self, wait: bool = False) -> None: ...

    @property
    def paused(self) -> bool: ...

    @paused.setter
    def paused(self, value: bool) -> None: ...


class LeasePort:
    """``g._p`` in the host: every call goes through the lease (refused if it was lost)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.responses: deque[str] = deque(maxlen=_KEEP)
        self.temp_readings: deque[str] = deque(maxlen=_KEEP)
        self._closed = False

    def _check(self, line: str) -> None:
        if self._closed:
            # mecode raises RuntimeError here too; ours is a MachineError naming the line.
            raise MachineError(f"cannot send {line!r}: g was torn down (disconnect was called)")

    def sendline(self, line: str) -> None:
        self._check(line)
        self.lease.sendline(line)

    def get_response(self, line: str, timeout: float = 0) -> str:
        """Send ``line``, wait for its ``ok``; the reply lines joined (mecode's format).

        ``timeout`` 0 means the machine's acknowledgement timeout, not forever: a firmware that
        drops the line ends the run with AckTimeoutError instead of hanging it.
        """
        self._check(line)
        lines = self.lease.request(line, timeout or None)
        text = "".join(t + "\n" for t in lines)
        self.responses.append(text)
        for t in lines:
            if parse_temperatures(t):
                self.temp_readings.append(t)
        return text

    def current_position(self) -> dict[str, float]:
        """``{'X': .., 'Y': .., 'Z': .., 'E': ..}`` from M114."""
        for text in self.lease.request("M114"):
            pos = parse_position(text)
            if pos:
                return pos
        raise MachineError("M114 reply carried no position")

    def reset_linenumber(self, number: int = 0) -> None:
        self.sendline(f"M110 N{number}")

    def disconnect(self, wait: bool = False) -> None:
        """mecode's teardown: optionally wait for every line to be acknowledged. The lease and
        the connection stay with the host, which releases them when the run ends."""
        if wait and not self._closed and self.lease.active:
            self.lease.wait_idle()
        self._closed = True

    @property
    def paused(self) -> bool:
        return self.lease.machine.state.value == "paused"

    @paused.setter
    def paused(self, value: bool) -> None:
        if value:
            self.lease.machine.pause()
        else:
            self.lease.machine.resume()


def make_g(port: PrinterPort, **options: Any) -> Any:
    """A ``mecode.G`` writing straight to ``port`` (options are passed on to ``G``).

    >>> g = make_g(LeasePort(machine.lease("script")))     # doctest: +SKIP
    >>> g.move(x=10); g.write("M105", resp_needed=True)   # doctest: +SKIP
    """
    from mecode import G

    settings: dict[str, Any] = {
        "direct_write": True,
        "direct_write_mode": "serial",
        "setup": False,
        "print_lines": False,
    }
    settings.update(options)
    g = G(**settings)
    g._p = port
    return g
