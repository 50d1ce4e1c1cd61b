"""Warm worker processes: forked from a forkserver with scriptdeck and mecode preloaded, two kept spare.

A run takes a spare (already started, imports done, waiting for its job on its Pipe) and a
new spare is forked in the background; so a trivial action costs a Pipe round trip, not an
interpreter start. Every run still gets a process of its own (no module cache survives).
Each worker's fds 1 and 2 are pipes read by the host (output.py), made when it is forked.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import ForkServerContext, ForkServerProcess, set_spawning_popen
from typing import Any, cast

from scriptdeck.runtime import worker
from scriptdeck.runtime.output import WorkerOutput

_context_lock = threading.Lock()
_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    # The forkserver is one per host process; its preload list must be set before it starts.
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            assert isinstance(ctx, ForkServerContext)
            ctx.set_forkserver_preload(list(worker.PRELOAD))
            _context = ctx
        return _context


class _WorkerPopen(popen_forkserver.Popen):
    """The stdlib's forkserver launch, minus re-importing the host's `__main__` in the child.

    multiprocessing re-runs the parent's main script in each spawned child (as `__mp_main__`);
    for us that would be the CLI, pytest, a benchmark or the program embedding `Host` — slow,
    and wrong for scripts without a main guard. Workers need nothing from it: the target is
    `scriptdeck.runtime.worker.worker_main`. This is `popen_forkserver.Popen._launch`
    (CPython 3.11–3.13) with those two keys dropped.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_name", None)
        prep_data.pop("init_main_from_path", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(cast(Any, self)._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, cast(Any, util).close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _ForkedWorker(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _WorkerPopen(process_obj)


class WorkerProcess:
    """One worker process, the host's end of its Pipe and the reading ends of its fds 1 and 2."""

    def __init__(self) -> None:
        ctx = _forkserver()
        self.conn, child = ctx.Pipe(duplex=True)
        self.output = WorkerOutput()
        self.process: Any = _ForkedWorker(target=worker.worker_main, args=(child, *self.output.child_ends()),
                                          name="scriptdeck-worker", daemon=True)
        try:
            self.process.start()
        except BaseException:
            self.output.close()
            raise
        finally:
            child.close()
        self.output.started(self.process.sentinel)
        self._lock = threading.Lock()
        self._disposed = False

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def sentinel(self) -> int:
        return self.process.sentinel

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def terminate(self) -> None:
        self._signal("terminate")

    def kill(self) -> None:
        self._signal("kill")

    def _signal(self, how: str) -> None:
        # Timers (kill after the grace period) may fire after dispose(): then there is nothing to do.
        with self._lock:
            if self._disposed:
                return
            try:
                if self.process.is_alive():
                    getattr(self.process, how)()
            except (ValueError, OSError):
                pass

    def exitcode(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def dispose(self, grace: float = 2.0) -> None:
        """Make sure the process is gone (SIGTERM, then SIGKILL after `grace` s) and free its handles."""
        self.conn.close()
        self.process.join(0.05)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.output.close()  # after the process is gone: its reader thread has stopped polling the sentinel
        with self._lock:
            self._disposed = True
            self.process.close()


class WorkerPool:
    """Hands out fresh, already-started workers; keeps `spares` of them waiting."""

    def __init__(self, spares: int = 2) -> None:
        self._spares_wanted = spares
        self._lock = threading.Lock()
        self._spares: list[WorkerProcess] = []
        self._closed = False
        self._filling = False
        self._thread: threading.Thread | None = None

    def warm_up(self) -> None:
        """Start the forkserver and the spares now (in the background) rather than on the first run."""
        self._refill_async()

    def acquire(self) -> WorkerProcess:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            spare = self._spares.pop(0) if self._spares else None
        if spare is not None and not spare.alive():
            spare.dispose(0)
            spare = None
        proc = spare or WorkerProcess()
        self._refill_async()
        return proc

    def _refill_async(self) -> None:
        with self._lock:
            if self._filling or self._closed or len(self._spares) >= self._spares_wanted:
                return
            self._filling = True
            self._thread = threading.Thread(target=self._refill, name="scriptdeck-pool", daemon=True)
            self._thread.start()

    def _refill(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed or len(self._spares) >= self._spares_wanted:
                        return
                proc = WorkerProcess()
                with self._lock:
                    if self._closed:
                        break
                    self._spares.append(proc)
                    continue
            proc.dispose(0)
        finally:
            with self._lock:
                self._filling = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(10)  # a spare being forked right now must not outlive the pool
        with self._lock:
            spares, self._spares = self._spares, []
        for proc in spares:
            proc.dispose(0.5)
