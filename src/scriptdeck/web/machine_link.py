"""Joins a `Machine` to a `Host` for the dashboard: automation scripts drive it through a lease.

The runtime asks its `port_factory(machine_url, owner)` for `g`'s printer port when an
automation script starts and calls `release()` on it when the run ends; the port below
holds the machine's lease for exactly that long, so the terminal and print jobs are refused
(naming the script) while it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from scriptdeck.machine.machine import Machine
from scriptdeck.machine.mecode_bridge import LeasePort


class RunLeasePort(LeasePort):
    """`g._p` for one automation run: the lease is released when the run ends or is cancelled."""

    def wait_for_buffer(self) -> None:
        if self.lease.active:
            self.lease.wait_idle()

    def cancel(self) -> None:
        # Stop sending at once, send the abort sequence, release: the machine's cancel does all three.
        with contextlib.suppress(Exception):
            self.lease.machine.cancel("run cancelled", wait=False)

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self.lease.release()


def port_factory(machine: Machine) -> Callable[[str, str], Any]:
    """A `Host(port_factory=...)` that leases `machine` for each automation run."""

    def factory(machine_url: str, owner: str) -> RunLeasePort:
        return RunLeasePort(machine.lease(owner))

    return factory
