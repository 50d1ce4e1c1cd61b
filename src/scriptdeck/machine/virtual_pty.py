"""The ``virtual://`` firmware served on a pseudo-terminal, so any host can open it as a serial port.

One thread runs the firmware against the pty's master side with ``select``. When the last
host closes the slave, Linux reports EIO on the master: the firmware then reboots (like a
board reset by DTR), so a halted (M112) printer comes back after a reconnect. Linux gives
no event when a slave is opened again, so only while no host is attached the thread
checks every 50 ms (a waiting simulator, not a host polling a printer).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time
import tty

from scriptdeck.machine.firmware import Firmware
from scriptdeck.machine.virtual import VirtualOptions

__all__ = ["PtyPrinter"]

_NO_HOST_CHECK_S = 0.05
_GREET_DELAY_S = 0.1


class PtyPrinter:
    """``PtyPrinter(options).start()``; ``.path`` is the device to open; ``.close()`` stops it."""

    def __init__(self, options: VirtualOptions | None = None) -> None:
        self.options = options or VirtualOptions()
        self.firmware = Firmware(self.options)
        self._master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/NL mangling — kept while the master lives
        tty.setraw(self._master)
        self.path = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self._master, False)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="virtual-printer-pty", daemon=True)
        self.hosts = 0  # how many times a host attached
        self.detached = threading.Event()  # set while no host has the port open
        self.stopped_by_fault = threading.Event()

    def start(self) -> PtyPrinter:
        self._thread.start()
        return self

    def __enter__(self) -> PtyPrinter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(2.0)
        for fd in (self._master, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = -1

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (close() or a ``disconnect`` fault)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _read(self) -> bytes | None:
        """Bytes from the host; b"" when none; None when no host has the slave open."""
        try:
            return os.read(self._master, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None
            raise

    def _run(self) -> None:
        fw = self.firmware
        out = bytearray()
        attached = False
        greet_at: float | None = None
        while not self._stop.is_set():
            if not attached:
                data = self._read()
                if data is None:
                    self.detached.set()
                    self._stop.wait(_NO_HOST_CHECK_S)
                    continue
                attached = True
                self.detached.clear()
                self.hosts += 1
                fw.power_on(time.monotonic(), greet=False)
                out.clear()
                # Greet a moment later: pyserial flushes its input right after opening.
                greet_at = time.monotonic() + _GREET_DELAY_S
                if data:
                    greet_at = None  # the host spoke first: it is not waiting for "start"
                    fw.receive(data, time.monotonic())
                    greet_at = None
            now = time.monotonic()
            if greet_at is not None and now >= greet_at:
                fw.greet()
                greet_at = None
            wake = fw.step(now)
            if greet_at is not None:
                wake = greet_at if wake is None else min(wake, greet_at)
            if fw.out:
                out += fw.out
                fw.out.clear()
            if fw.disconnected:
                # Closing the master is how a pty "unplugs": the host's next read fails.
                self.stopped_by_fault.set()
                with contextlib.suppress(OSError):
                    os.close(self._master)
                self._master = -1
                return
            if out:
                try:
                    n = os.write(self._master, out)
                    del out[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    attached = False
                    continue
            timeout = None if wake is None else max(0.0, wake - time.monotonic())
            wlist = [self._master] if out else []
            try:
                ready, _writable, _ = select.select([self._master, self._wake_r], wlist, [], timeout)
            except (OSError, ValueError):
                return
            if self._wake_r in ready:
                return
            if self._master in ready:
                data = self._read()
                if data is None:
                    attached = False  # the host closed the port: reboot on the next open
                    self.detached.set()
                    continue
                if data:
                    greet_at = None  # the host spoke first: it is not waiting for "start"
                    fw.receive(data, time.monotonic())
