"""The machines automation scripts drive: one connected `Machine` per URL, a lease per run.

`MachinePorts` is the runner's port factory: for a run it connects the machine (once, on
first use), takes the exclusive lease in the script's name and returns a `LeasePort` (the
machine layer's `g._p`) extended with what a run's end needs: release, cancel.
The URL ``record://`` connects nothing: the lines are only recorded into the run (dry runs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from scriptdeck.errors import MachineError
from scriptdeck.machine.machine import Lease, Machine, MachineState
from scriptdeck.machine.mecode_bridge import LeasePort

RECORD_ONLY = "record://"


class RunLeasePort(LeasePort):
    """`g._p` of one run, holding the machine's lease until the run ends."""

    def get_response(self, line: str, timeout: float = 0) -> str:
        return super().get_response(line, timeout)

    def release(self) -> None:
        self.lease.release()

    def cancel(self) -> None:
        # Stop the owner's lines, send the abort sequence (M410 + the user's lines), release the
        # lease; callers blocked on the machine are woken with an error. Never blocks the caller.
        if self.lease.active:
            self.lease.machine.cancel("the automation script was cancelled", wait=False)


class MachinePorts:
    """Connected machines by URL; `__call__(url, owner)` is a `PortFactory` for the runner."""

    def __init__(self, on_connect: Callable[[], Iterable[str] | str | None] | None = None,
                 abort_lines: Sequence[str] = ()) -> None:
        self._lock = threading.Lock()
        self._machines: dict[str, Machine] = {}
        self._on_connect = on_connect
        self._abort_lines = list(abort_lines)  # sent after M410 when a run or print is cancelled

    def machine(self, url: str) -> Machine:
        """The machine at `url`, connected (raises MachineError when it cannot be)."""
        with self._lock:
            machine = self._machines.get(url)
            if machine is None:
                machine = Machine(url, on_connect=self._on_connect, abort_lines=self._abort_lines)
                self._machines[url] = machine
        machine.connect()  # a no-op while connected; reconnects after an error or a disconnect
        return machine

    def __call__(self, url: str, owner: str) -> RunLeasePort | None:
        if url == RECORD_ONLY:
            return None
        lease: Lease = self.machine(url).lease(owner)
        return RunLeasePort(lease)

    def connected(self) -> list[Machine]:
        """Machines opened so far that are connected now."""
        with self._lock:
            machines = list(self._machines.values())
        return [m for m in machines if m.state not in (MachineState.DISCONNECTED, MachineState.ERROR)]

    def close(self) -> None:
        with self._lock:
            machines, self._machines = list(self._machines.values()), {}
        for machine in machines:
            try:
                machine.disconnect()
            except MachineError:
                pass
