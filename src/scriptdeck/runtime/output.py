"""A worker's file descriptors 1 and 2: pipes whose reading ends never leave the host.

Output written below Python — a C extension's printf, a subprocess, `os.write(1, …)` — cannot be
caught by replacing `sys.stdout`. So when the host forks a worker it makes pipes, hands their
writing ends to the worker as its fds 1 and 2 (`redirect`, in the worker) and keeps the reading
ends (`WorkerOutput`, in the host). Whatever the worker wrote before it died, however abruptly
(os._exit, SIGSEGV, SIGKILL), is in the kernel's pipe buffer and still gets read.

A thread per worker drains the pipes as data arrives, so a plugin never blocks on a full pipe
while the run's thread is busy elsewhere (a question waiting for its answer, a slow machine).
It cuts the bytes into lines and hands each to the run's sink; a warm spare forked before its
run exists keeps up to PENDING_LINES lines until `attach`. The thread stops once the worker is
gone (its sentinel): output from processes the plugin left running after that is not read.

A third pipe carries faulthandler's report (a segfault, an abort): read at once like the others
but handed over only at `detach`, after everything the worker sent over its Pipe — the report
is the last thing a dying worker says, and the run's log shows it last, not among its prints.
"""

from __future__ import annotations

import ctypes
import faulthandler
import fcntl
import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from multiprocessing import reduction
from typing import Any

# (stream, line): stream is "stdout" (fd 1) or "stderr" (fd 2); the line has no newline.
Sink = Callable[[str, str], None]

MAX_LINE = 64 * 1024  # bytes; a longer line without a newline is cut into pieces of this size
PENDING_LINES = 200  # lines kept for a sink not attached yet
_READ_SIZE = 64 * 1024  # a Linux pipe's default capacity: one read usually empties it
_SYNC_READS = 32  # reads per stream a caller's `sync` may do while a writer keeps writing

log = logging.getLogger("scriptdeck.runtime")


class InheritedFd:
    """A descriptor given to a worker: multiprocessing sends it over the forkserver's socket."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return _inherited, (reduction.DupFd(self.fd),)


def _inherited(dup: Any) -> int:
    return int(dup.detach())


class _Pipe:
    __slots__ = ("deferred", "fd", "name", "open", "partial")

    def __init__(self, name: str, fd: int, deferred: bool) -> None:
        self.name = name
        self.fd = fd
        self.deferred = deferred  # faulthandler's: lines wait for detach()
        self.partial = b""
        self.open = True


class WorkerOutput:
    """The host's side of one worker's output: fd 1, fd 2 and faulthandler's pipe.

    Lifecycle: create, pass `child_ends()` to the process, `started(sentinel)`, then per run
    `attach(sink)` … `detach()`, and `close()` once the process is gone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipes: list[_Pipe] = []
        self._child_fds: list[int] = []
        for name, deferred in (("stdout", False), ("stderr", False), ("stderr", True)):
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            self._pipes.append(_Pipe(name, read_end, deferred))
            self._child_fds.append(write_end)
        self._by_fd = {pipe.fd: pipe for pipe in self._pipes}
        self._ready = select.poll()  # for _read_all: one syscall tells which pipes hold something
        for fd in self._by_fd:
            self._ready.register(fd, select.POLLIN)
        self._sink: Sink | None = None
        self._pending: list[tuple[str, str]] = []
        self._crash: list[str] = []
        self._detached = False
        self._thread: threading.Thread | None = None
        self._closed = False

    def child_ends(self) -> tuple[InheritedFd, ...]:
        """The writing ends (fd 1, fd 2, faulthandler's) for the worker's arguments; they arrive as ints."""
        return tuple(InheritedFd(fd) for fd in self._child_fds)

    def started(self, sentinel: int) -> None:
        """The worker holds its copies: close the host's, drain until `sentinel` says it ended."""
        for fd in self._child_fds:
            os.close(fd)
        self._child_fds = []
        self._thread = threading.Thread(target=self._drain, args=(sentinel,), name="scriptdeck-output",
                                        daemon=True)
        self._thread.start()

    def attach(self, sink: Sink) -> None:
        """Send every line from now on (and those kept since the worker started) to `sink`."""
        with self._lock:
            self._sink = sink
            pending, self._pending = self._pending, []
            for name, line in pending:
                self._deliver(name, line)

    def sync(self) -> None:
        """Read what the pipes hold right now, so it reaches the sink before what the caller does next."""
        with self._lock:
            self._read_all()

    def detach(self) -> None:
        """The run is over: read what is left, end unfinished lines, then the crash report; drop the rest."""
        with self._lock:
            self._read_all()
            for pipe in self._pipes:
                self._flush_partial(pipe)
            crash, self._crash = self._crash, []
            if self._sink is not None:
                for line in crash:
                    self._deliver("stderr", line)
            self._sink = None
            self._detached = True

    def close(self, timeout: float = 5.0) -> None:
        """Stop draining and close the reading ends; call once the process is gone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for fd in self._child_fds:  # never started
            os.close(fd)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # never close a descriptor a thread still polls
                log.warning("worker output reader did not stop; leaving its pipes open")
                return
        for pipe in self._pipes:
            os.close(pipe.fd)

    # -- the reader thread -----------------------------------------------------------------------

    def _drain(self, sentinel: int) -> None:
        poller = select.poll()
        by_fd = dict(self._by_fd)  # the pipes not at their end yet
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(sentinel, select.POLLIN)
        while by_fd:
            ready = poller.poll()
            ended = False
            with self._lock:
                for fd, _mask in ready:
                    pipe = by_fd.get(fd)
                    if pipe is None:
                        ended = True
                        continue
                    self._read(pipe)  # one read per wake-up: a writer that never stops cannot starve sync()
                    if not pipe.open:
                        poller.unregister(fd)
                        del by_fd[fd]
                if ended:  # the worker is gone; all it wrote is in the pipes
                    self._read_all()
                    for pipe in self._pipes:
                        self._flush_partial(pipe)
                    return
        with self._lock:
            for pipe in self._pipes:
                self._flush_partial(pipe)

    # -- with the lock held ----------------------------------------------------------------------

    def _read_all(self) -> None:
        for fd, _mask in self._ready.poll(0):
            pipe = self._by_fd[fd]
            for _ in range(_SYNC_READS):
                if not self._read(pipe):
                    break

    def _read(self, pipe: _Pipe) -> bool:
        """One read; False when the pipe is empty or at its end."""
        if not pipe.open:
            return False
        try:
            data = os.read(pipe.fd, _READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            pipe.open = False
            self._flush_partial(pipe)
            return False
        *lines, rest = (pipe.partial + data).split(b"\n")
        for line in lines:
            self._emit(pipe, line)
        while len(rest) > MAX_LINE:
            self._emit(pipe, rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        pipe.partial = rest
        return True

    def _flush_partial(self, pipe: _Pipe) -> None:
        if pipe.partial:
            line, pipe.partial = pipe.partial, b""
            self._emit(pipe, line)

    def _emit(self, pipe: _Pipe, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if line.endswith("\r"):
            line = line[:-1]
        if self._detached:
            return
        if pipe.deferred:
            self._crash.append(line)
        elif self._sink is not None:
            self._deliver(pipe.name, line)
        elif len(self._pending) < PENDING_LINES:
            self._pending.append((pipe.name, line))

    def _deliver(self, name: str, line: str) -> None:
        assert self._sink is not None
        try:
            self._sink(name, line)
        except Exception:  # a broken sink must not stop the draining (the plugin would block)
            log.exception("worker output sink %r failed", self._sink)


# -- in the worker --------------------------------------------------------------------------------

_libc: Any = None


def redirect(stdout_fd: int, stderr_fd: int, crash_fd: int) -> None:
    """In the worker: fds 1 and 2 become the host's pipes, C stdio line-buffered, faulthandler on."""
    global _libc
    # Move all above 2 first: when the host runs with fd 1 or 2 closed, they may have arrived as 1 or 2.
    out, err, crash = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (stdout_fd, stderr_fd, crash_fd))
    for fd in (stdout_fd, stderr_fd, crash_fd):
        os.close(fd)
    for target, fd in ((1, out), (2, err)):
        os.dup2(fd, target)  # inheritable: subprocesses write into the same pipes
        os.close(fd)
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.reconfigure(line_buffering=True)
    # A segfault's "Fatal Python error" and every thread's stack: the run log's last lines. The
    # descriptor stays open (and is not inherited) for as long as the worker lives.
    faulthandler.enable(crash, all_threads=True)
    try:
        _libc = ctypes.CDLL(None)
    except OSError:
        return
    try:
        # printf() of a C extension: on a pipe, stdio would buffer whole blocks until exit (lost
        # by os._exit or a crash); line buffering writes each line as it is finished, in order.
        c_stdout = ctypes.c_void_p.in_dll(_libc, "__stdoutp" if sys.platform == "darwin" else "stdout")
        _libc.setvbuf(c_stdout, None, 1, 0)  # _IOLBF
    except (ValueError, AttributeError):
        pass


def flush() -> None:
    """In the worker, before it reports: write what Python's and C's stdio buffers still hold."""
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    if _libc is not None:
        _libc.fflush(None)
