"""Byte links to a machine, opened by URL: ``virtual://``, device paths, pyserial URLs, ``tcp://``.

A transport only moves bytes. ``read(timeout)`` returns what is available (``b""`` on
timeout) and raises :class:`NotConnectedError` once the link is gone; ``close()`` from
another thread wakes a blocked ``read``. The sender's one reader thread is its only reader.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from typing import Any, Protocol
from urllib.parse import SplitResult, parse_qsl, urlsplit

import serial

try:
    import termios
except ImportError:  # Windows: serial ports there have no file descriptor, FdTransport is not used
    termios = None  # type: ignore[assignment]

from scriptdeck.errors import NotConnectedError, ProtocolError

__all__ = [
    "FdTransport",
    "SerialObjectTransport",
    "SocketTransport",
    "Transport",
    "open_transport",
    "split_url",
]

# Schemes pyserial's serial_for_url understands (its protocol_* handler modules).
PYSERIAL_SCHEMES = frozenset({"socket", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110"})


class Transport(Protocol):
    """What the sender needs from a link."""

    description: str

    def read(self, timeout: float | None) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class QueueTransport:
    """A transport whose replies are made in this process (the virtual printer, test firmware).

    Subclasses append reply bytes with `_deliver` (or to `_out` while holding `_cond`);
    `read` hands them out, waiting on the condition — no polling.
    """

    description = "queue://"

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._out = bytearray()
        self._closed = False

    def _deliver(self, data: bytes) -> None:
        with self._cond:
            self._out += data
            self._cond.notify_all()

    def read(self, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._out:
                if self._closed:
                    raise NotConnectedError(f"{self.description}: machine disconnected")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return b""
                self._cond.wait(remaining)
            data = bytes(self._out)
            self._out.clear()
            return data

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """``"/dev/ttyUSB0?baud=250000"`` → ``("/dev/ttyUSB0", {"baud": "250000"})``."""
    base, _, query = url.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


class FdTransport:
    """A file descriptor (pty, serial device) read with ``select`` and a wake-up pipe.

    Reading the descriptor directly, not through pyserial's ``read``, costs one
    ``poll`` and one large ``read`` per burst instead of several calls per byte; the poll
    object is registered once, not rebuilt per call as ``select`` would.

    A terminal (pty, serial device) in the middle of an exchange costs a single ``read`` per
    burst: its VTIME is set to 0.1 s, so a blocking ``read`` returns as soon as bytes come or
    after 0.1 s of silence, and then the next ``read`` goes back to ``poll`` — which ``close()``
    wakes at once, and which waits without waking up while the line is idle.
    """

    ACTIVE_VTIME = 1  # deciseconds of silence that end a blocking read during an exchange
    GATHER_S = 0.005  # the longest a gathering read waits for its bytes, see gather()

    def __init__(self, fd: int, description: str, keep: Any = None) -> None:
        self.description = description
        self._fd = fd
        self._keep = keep  # the pyserial object that owns fd, closed with us
        self._wake_r, self._wake_w = os.pipe()
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)
        self._closed = False
        self._write_lock = threading.Lock()
        self._tty = False
        self._active = False  # the last read brought bytes: block in read() itself
        self._gather = 0  # VMIN while gathering (see gather()); 0: not gathering
        if termios is not None and os.isatty(fd):
            with contextlib.suppress(termios.error, OSError):
                attrs = termios.tcgetattr(fd)
                attrs[6][termios.VMIN] = 0
                attrs[6][termios.VTIME] = self.ACTIVE_VTIME
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
                self._tty = True

    def gather(self, min_bytes: int) -> None:
        """Let reads wake only once ``min_bytes`` have come (at most GATHER_S later); 0 stops.

        The sender asks for this when one more reply alone would not let it send anything
        (e.g. the second of two ``ok`` lines): a terminal's poll honours VMIN while VTIME is 0,
        so the reader sleeps through the first reply instead of waking for it. Terminals only.
        """
        if not self._tty or min_bytes == self._gather or min_bytes > 255:
            return
        with contextlib.suppress(termios.error, OSError):
            attrs = termios.tcgetattr(self._fd)
            attrs[6][termios.VMIN] = min_bytes
            attrs[6][termios.VTIME] = 0 if min_bytes else self.ACTIVE_VTIME
            termios.tcsetattr(self._fd, termios.TCSANOW, attrs)
            # While gathering, reads after a poll that timed out must not wait for VMIN bytes.
            os.set_blocking(self._fd, not min_bytes)
            self._gather = min_bytes
            self._active = False

    def read(self, timeout: float | None) -> bytes:
        if self._closed:
            raise NotConnectedError(f"{self.description}: machine disconnected")
        if self._gather:
            return self._read_gathered(timeout)
        # A blocking read may last VTIME (0.1 s): a caller with less time left polls instead.
        if self._active and (timeout is None or timeout >= self.ACTIVE_VTIME / 10):
            try:
                data = os.read(self._fd, 65536)
            except (OSError, ValueError) as exc:
                raise NotConnectedError(f"{self.description}: machine disconnected ({exc})") from exc
            if data:
                return data
            # 0.1 s of silence, or a hung-up line (its read returns nothing at once): poll tells.
            self._active = False
            timeout = 0.0
        try:
            events = self._poll.poll(None if timeout is None else timeout * 1000.0)
            if not events:
                return b""
            if self._closed or any(fd == self._wake_r for fd, _ in events):
                raise NotConnectedError(f"{self.description}: machine disconnected")
            data = os.read(self._fd, 65536)
        except (OSError, ValueError) as exc:
            raise NotConnectedError(f"{self.description}: machine disconnected ({exc})") from exc
        if not data:
            raise NotConnectedError(f"{self.description}: machine disconnected (end of file)")
        self._active = self._tty
        return data

    def _read_gathered(self, timeout: float | None) -> bytes:
        wait = self.GATHER_S if timeout is None else min(timeout, self.GATHER_S)
        try:
            events = self._poll.poll(wait * 1000.0)
            if self._closed or any(fd == self._wake_r for fd, _ in events):
                raise NotConnectedError(f"{self.description}: machine disconnected")
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                data = None
            if not events:
                self.gather(0)  # fewer bytes came than hoped: back to waking on each reply
                return data or b""
        except (OSError, ValueError) as exc:
            raise NotConnectedError(f"{self.description}: machine disconnected ({exc})") from exc
        if not data:
            raise NotConnectedError(f"{self.description}: machine disconnected (end of file)")
        return data

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if self._closed:
                raise NotConnectedError(f"{self.description}: machine disconnected")
            try:
                try:
                    n = os.write(self._fd, data)
                except BlockingIOError:  # gathering (non-blocking) and the kernel buffer is full
                    n = 0
                if n < len(data):  # the rest, as room comes
                    view = memoryview(data)[n:]
                    while view:
                        if self._closed:
                            raise NotConnectedError(f"{self.description}: machine disconnected")
                        select.select([], [self._fd], [], 0.1)
                        with contextlib.suppress(BlockingIOError):
                            view = view[os.write(self._fd, view) :]
            except OSError as exc:
                raise NotConnectedError(f"{self.description}: machine disconnected ({exc})") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        # The reader may still be inside select(); it sees the wake byte. Close fds after it left.
        with self._write_lock:
            if self._keep is not None:
                with contextlib.suppress(Exception):
                    self._keep.close()
            else:
                with contextlib.suppress(OSError):
                    os.close(self._fd)

    def release_wakeup(self) -> None:
        """Close the wake-up pipe; called by the reader thread once it has stopped."""
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class SocketTransport(FdTransport):
    """Plain TCP (``tcp://host:port``), e.g. a serial-to-network bridge."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise NotConnectedError(f"tcp://{host}:{port}: cannot connect ({exc})") from exc
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        super().__init__(sock.fileno(), f"tcp://{host}:{port}", keep=sock)


class SerialObjectTransport:
    """Any pyserial-like object (``read``/``write``/``close``, a ``timeout``): pyserial URL
    handlers without a file descriptor (``socket://``, ``loop://``, ``rfc2217://``) and
    foreign simulators such as OctoPrint's ``VirtualPrinter``.

    These objects only offer reads with a timeout, so ``read`` waits in slices of
    ``slice_s`` to notice ``close()``; it never sleeps.
    """

    def __init__(self, obj: Any, description: str, slice_s: float = 0.1, use_readline: bool = False) -> None:
        self.description = description
        self._obj = obj
        self._slice = slice_s
        self._closed = False
        self._use_readline = use_readline
        self._short = False  # obj.timeout is lowered for the last slice of a short read
        self._write_lock = threading.Lock()
        with contextlib.suppress(Exception):
            obj.timeout = slice_s

    def read(self, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                raise NotConnectedError(f"{self.description}: machine disconnected")
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                self._slice_for(remaining)
            elif self._short:
                self._slice_for(self._slice)
            try:
                if self._use_readline:
                    data = self._obj.readline()
                    # Some simulators (OctoPrint's) hand out whole lines without their "\n".
                    if data and not data.endswith(b"\n"):
                        data += b"\n"
                else:
                    waiting = getattr(self._obj, "in_waiting", 0) or 0
                    data = self._obj.read(max(1, waiting))
            except Exception as exc:
                if self._closed:
                    raise NotConnectedError(f"{self.description}: machine disconnected") from exc
                raise NotConnectedError(f"{self.description}: machine disconnected ({exc})") from exc
            if data:
                return bytes(data) if not isinstance(data, str) else data.encode()

    def _slice_for(self, remaining: float) -> None:
        """A read with less than slice_s left waits only that long (a short timeout is kept,
        not rounded up to a whole slice); the object's timeout is only set when it changes."""
        short = remaining < self._slice
        if short or self._short:
            with contextlib.suppress(Exception):
                self._obj.timeout = max(remaining, 0.001) if short else self._slice
            self._short = short

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if self._closed:
                raise NotConnectedError(f"{self.description}: machine disconnected")
            try:
                self._obj.write(data)
            except Exception as exc:
                raise NotConnectedError(f"{self.description}: machine disconnected ({exc})") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._obj.close()


DEFAULT_BAUD = 115200


def _baud_option(options: dict[str, str], url: str) -> int:
    """The URL's ``baud``: any positive integer, because Linux sets nonstandard rates some boards use."""
    raw = options.get("baud")
    if raw is None:
        return DEFAULT_BAUD
    if not (raw.isascii() and raw.isdigit()) or int(raw) == 0:
        raise ProtocolError(
            f"machine URL {url!r}: parameter 'baud' has value {raw!r}; expected a positive integer "
            f"(bits per second, e.g. {DEFAULT_BAUD})"
        )
    return int(raw)


def _url_port(url: str, parts: SplitResult) -> int:
    """The PORT of ``scheme://HOST:PORT``, checked here: urlsplit's ``.port`` raises a bare
    ValueError for "abc" or 99999, and pyserial words a bad socket:// port as a bad logging level."""
    netloc = parts.netloc.rpartition("@")[2]
    after_host = netloc[netloc.rfind("]") + 1 :]  # an IPv6 literal's colons are not the port's
    _, sep, raw = after_host.rpartition(":")
    if not sep or not raw:
        raise ProtocolError(f"machine URL {url!r}: no port; expected {parts.scheme}://HOST:PORT")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 65535:
        raise ProtocolError(f"machine URL {url!r}: port has value {raw!r}; expected an integer 1..65535")
    return int(raw)


def open_transport(url: str) -> Transport:
    """Open a link by URL.

    - ``virtual://?buffer=16&advanced_ok=1`` — the built-in simulator (see ``virtual.py``)
    - ``/dev/ttyUSB0?baud=250000``, ``COM3?baud=115200`` — a serial device (default 115200; any positive rate)
    - ``socket://host:port``, ``rfc2217://host:port``, ``loop://`` — any pyserial URL
    - ``tcp://host:port`` — a plain TCP stream
    """
    try:
        parts = urlsplit(url if "://" in url else "")  # a device path is not a URL
    except ValueError as exc:  # "tcp://[::1" — an unclosed IPv6 bracket
        raise ProtocolError(f"machine URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "virtual":
        from scriptdeck.machine.virtual import VirtualTransport

        return VirtualTransport.from_url(url)
    if scheme == "tcp":
        if not parts.hostname:
            raise ProtocolError(f"machine URL {url!r}: no host; expected tcp://HOST:PORT")
        return SocketTransport(parts.hostname, _url_port(url, parts))
    if scheme in PYSERIAL_SCHEMES:
        if scheme in ("socket", "rfc2217"):
            _url_port(url, parts)
        base, options = split_url(url) if scheme == "loop" else (url, {})
        baud = _baud_option(options, url)
        try:
            obj = serial.serial_for_url(base if scheme == "loop" else url, baudrate=baud, timeout=0.1)
        except (serial.SerialException, ValueError) as exc:
            raise NotConnectedError(f"{url}: cannot open ({exc})") from exc
        return SerialObjectTransport(obj, url)
    if scheme:
        raise ProtocolError(
            f"machine URL {url!r}: unknown scheme {scheme!r}; expected virtual://, tcp://, a device path "
            f"or one of pyserial's {sorted(PYSERIAL_SCHEMES)}"
        )
    path, options = split_url(url)
    unknown = set(options) - {"baud"}
    if unknown:
        raise ProtocolError(f"machine URL {url!r}: unknown option(s) {sorted(unknown)}; a device path accepts 'baud'")
    baud = _baud_option(options, url)
    try:
        port = serial.Serial(path, baudrate=baud, timeout=0, write_timeout=None)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise NotConnectedError(f"{path}: cannot open ({exc})") from exc
    fd = getattr(port, "fd", None)
    if isinstance(fd, int):
        os.set_blocking(fd, True)
        return FdTransport(fd, f"{path}?baud={baud}", keep=port)
    return SerialObjectTransport(port, f"{path}?baud={baud}")
