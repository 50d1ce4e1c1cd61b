"""Machine: connect, state, leases and refusals, pause/resume/cancel, printing, failures."""

from __future__ import annotations

import threading

import pytest

from scriptdeck.errors import (
    FirmwareHaltError,
    MachineBusyError,
    NotConnectedError,
    RunCancelledError,
)
from scriptdeck.machine import Machine, MachineState
from scriptdeck.machine.transport import Transport, open_transport
from scriptdeck.machine.virtual import VirtualTransport

pytestmark = pytest.mark.timeout(30)


class Capture:
    """transport_factory that remembers the simulator, to look at what it executed."""

    def __init__(self) -> None:
        self.transport: VirtualTransport | None = None

    def __call__(self, url: str) -> Transport:
        t = open_transport(url)
        assert isinstance(t, VirtualTransport)
        self.transport = t
        return t

    @property
    def log(self) -> list[str]:
        assert self.transport is not None
        return self.transport.firmware.log


def test_connect_learns_firmware_and_sends_on_connect_lines(machine_factory) -> None:
    cap = Capture()
    m = machine_factory("virtual://", transport_factory=cap, on_connect=lambda: ["M104 S0", "G21 ; mm"])
    assert m.state is MachineState.READY
    assert m.firmware_info["FIRMWARE_NAME"].startswith("Marlin")
    assert m.capabilities["AUTOREPORT_TEMP"] is True
    assert cap.log[:2] == ["M110 N0", "M115"]
    assert cap.log[-2:] == ["M104 S0", "G21"]


def test_on_connect_may_return_a_string(machine_factory) -> None:
    cap = Capture()
    machine_factory("virtual://", transport_factory=cap, on_connect=lambda: "M140 S0\nM107")
    assert cap.log[-2:] == ["M140 S0", "M107"]


def test_lease_refuses_others_naming_the_owner(machine_factory) -> None:
    m = machine_factory()
    with m.lease("calibrate") as lease:
        assert m.state is MachineState.BUSY and m.owner == "calibrate"
        with pytest.raises(MachineBusyError, match="'calibrate' owns it; 'terminal' must wait"):
            m.send("G28", owner="terminal")
        with pytest.raises(MachineBusyError, match="'calibrate'"):
            m.lease("print job x")
        assert lease.request("G90")[-1] == "ok"
    assert m.state is MachineState.READY
    assert m.send("M105")[-1].startswith("ok T:")


def test_released_lease_is_refused(machine_factory) -> None:
    m = machine_factory()
    lease = m.lease("a")
    lease.release()
    other = m.lease("b")
    with pytest.raises(MachineBusyError, match="'a' no longer owns the machine; 'b' does"):
        lease.sendline("G1 X1")
    other.release()


def test_temperatures_and_position_are_tracked(machine_factory) -> None:
    m = machine_factory("virtual://?heat_rate=2000")
    with m.lease("t") as lease:
        lease.request("M109 S60")
        lease.request("G1 X3 Y4")
        lease.request("M114")
        lease.request("M105")
    assert m.temperatures["T"].target == 60.0
    assert m.temperatures["T"].actual == pytest.approx(60.0, abs=1.0)
    assert m.position["X"] == 3.0 and m.position["Y"] == 4.0


def test_position_is_known_after_connect_and_after_each_lease(machine_factory) -> None:
    m = machine_factory("virtual://")
    assert m.position == {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
    reported = threading.Event()
    m.add_line_listener(lambda direction, text: reported.set() if direction == "in" and "X:7" in text else None)
    with m.lease("script") as lease:  # the owner never asks for M114 itself
        lease.request("G1 X7 Y2")
    assert reported.wait(10), "no M114 report after the lease ended"
    assert m.position["X"] == 7.0 and m.position["Y"] == 2.0


def test_position_auto_reports_update_the_position_and_answer_only_m114(machine_factory) -> None:
    m = machine_factory("virtual://", temp_interval=1)  # M155 S1 and, with AUTOREPORT_POS, M154 S1
    moved = threading.Event()
    m.add_line_listener(lambda direction, text: moved.set() if direction == "in" and "X:9" in text else None)
    with m.lease("script") as lease:
        lease.request("G1 X9 Y4")
        assert moved.wait(5), "no M154 position report during the lease"
        assert m.position["X"] == 9.0 and m.position["Y"] == 4.0  # while the owner never asked
        replies = [lease.request("G4 P1100")]  # long enough for a report to come meanwhile
        replies += [lease.request("M400") for _ in range(3)]
        assert all(r == ["ok"] for r in replies), replies
        answer = lease.request("M114")
        assert answer[0].startswith("X:9.00 Y:4.00") and answer[-1] == "ok"


def test_line_listeners_see_both_directions(machine_factory) -> None:
    m = machine_factory()
    seen: list[tuple[str, str]] = []
    stop = m.add_line_listener(lambda d, t: seen.append((d, t)))
    m.send("M105")
    stop()
    m.send("M105")
    assert [d for d, _ in seen] == ["out", "in"]
    assert seen[0][1].startswith("N") and "M105" in seen[0][1]


def _started(job_acked_at_least: int, job) -> None:
    done = threading.Event()
    job._stream.on_progress = lambda s: done.set() if s.acked >= job_acked_at_least else None
    if job.acked < job_acked_at_least:
        done.wait(10)


def test_print_job_progress_pause_resume(machine_factory) -> None:
    m = machine_factory("virtual://?buffer=4&move_ms=2")
    job = m.print_lines([f"G1 X{i % 10}" for i in range(300)], name="cube")
    assert m.owner == "print job cube"
    _started(20, job)
    m.pause()
    assert m.state is MachineState.PAUSED and job.state == "paused"
    sent = job._stream.sent
    m.sender.wait_idle  # noqa: B018
    assert job._stream.sent == sent  # nothing new leaves while paused
    m.resume()
    progress = job.result(20)
    assert (progress.acked, progress.total, progress.state) == (300, 300, "done")
    assert progress.eta == 0.0 and progress.elapsed > 0
    assert m.state is MachineState.READY and m.owner is None


def test_cancel_sends_the_abort_sequence_and_releases(machine_factory) -> None:
    cap = Capture()
    m = machine_factory(
        "virtual://?buffer=4&move_ms=5", transport_factory=cap, abort_lines=["M104 S0", "M140 S0"]
    )
    job = m.print_lines([f"G1 X{i % 10}" for i in range(2000)], name="long")
    _started(5, job)
    job.cancel()
    assert job.wait(10) and job.state == "cancelled"
    assert m.owner is None and m.state is MachineState.READY
    log = [line for line in cap.log if line != "M114"]  # the host asks the position after a job
    assert log[-2:] == ["M104 S0", "M140 S0"]
    assert "M410" in log[-3:]
    assert sum(1 for line in log if line.startswith("G1")) < 2000


def test_disconnect_right_after_a_cancel_still_sends_the_abort_sequence(machine_factory) -> None:
    # The CLI cancels without waiting (the runner must not block) and exits at once: the user's
    # abort lines, queued behind lines the firmware has not acknowledged, must still go out.
    cap = Capture()
    m = machine_factory(
        "virtual://?buffer=4&move_ms=20", transport_factory=cap, abort_lines=["M104 S0", "M140 S0"]
    )
    lease = m.lease("script")
    for i in range(20):
        lease.sendline(f"G1 X{i}")
    m.cancel("the automation script was cancelled", wait=False)
    m.disconnect()
    log = [line for line in cap.log if line != "M114"]  # the host asks the position after a lease
    assert "M410" in log
    assert log[-2:] == ["M104 S0", "M140 S0"]


def test_cancelled_lease_refuses_further_lines(machine_factory) -> None:
    m = machine_factory()
    lease = m.lease("script")
    m.cancel()
    with pytest.raises(RunCancelledError, match="'script' was cancelled"):
        lease.sendline("G1 X1")


def test_disconnect_during_a_run_ends_it(machine_factory) -> None:
    m = machine_factory("virtual://?buffer=4&move_ms=1&faults=disconnect@40")
    job = m.print_lines([f"G1 X{i % 10}" for i in range(500)], name="cut")
    assert job.wait(10)
    assert job.state == "failed"
    assert isinstance(job.error, NotConnectedError) and "machine disconnected" in str(job.error)
    assert m.state is MachineState.ERROR
    with pytest.raises(NotConnectedError):
        m.lease("next")


def test_firmware_halt_puts_machine_in_error_and_reconnect_recovers(machine_factory) -> None:
    m = machine_factory("virtual://?faults=halt@5")
    with pytest.raises(FirmwareHaltError, match="halted"), m.lease("s") as lease:
        for i in range(10):
            lease.request(f"G1 X{i}")
    assert m.state is MachineState.ERROR and isinstance(m.error, FirmwareHaltError)
    m.connect()  # a fresh connection to virtual:// is a fresh board
    assert m.state is MachineState.READY


def test_emergency_stop(machine_factory) -> None:
    m = machine_factory()
    m.emergency_stop()
    assert m.state is MachineState.ERROR
    with pytest.raises(FirmwareHaltError, match="M112"):
        m.send("G1 X1")


def test_not_connected_is_clear() -> None:
    m = Machine("virtual://", temp_interval=0)
    with pytest.raises(NotConnectedError, match="not connected"):
        m.lease("x")


def test_pingpong_machine_prints(machine_factory) -> None:
    m = machine_factory("virtual://", flow="pingpong")
    assert m.print_lines(["G28", "G1 X5", "M400"]).result(10).acked == 3
