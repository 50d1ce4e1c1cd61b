"""Over a real pty: the simulator served by PtyPrinter, opened through the serial transport."""

from __future__ import annotations

import time

import pytest

from scriptdeck.errors import AckTimeoutError, FirmwareHaltError, MachineBusyError, NotConnectedError
from scriptdeck.machine import MachineState
from scriptdeck.machine.mecode_bridge import LeasePort, make_g
from scriptdeck.machine.transport import FdTransport, open_transport
from scriptdeck.machine.virtual import Fault

pytestmark = pytest.mark.timeout(30)


def test_serial_transport_opens_a_pty_path(pty_printer) -> None:
    p = pty_printer()
    t = open_transport(p.path + "?baud=250000")
    try:
        assert isinstance(t, FdTransport)
    finally:
        t.close()
        t.release_wakeup()


@pytest.mark.parametrize("flow", ["pingpong", "buffered"])
def test_checksum_and_drop_faults_are_recovered(pty_printer, machine_factory, flow: str) -> None:
    p = pty_printer(faults=(Fault("checksum", every=7), Fault("drop", line=20)), wait_ms=200, buffer=4)
    m = machine_factory(p.path, flow=flow)
    lines = [f"G1 X{i}" for i in range(60)]
    assert m.print_lines(lines).result(20).acked == 60
    executed = [line for line in p.firmware.log if line != "M114"]  # the host asks the position after a job
    assert executed[-60:] == lines


def test_stall_times_out_naming_the_line(pty_printer, machine_factory) -> None:
    p = pty_printer(faults=(Fault("stall", line=5),))
    m = machine_factory(p.path, ack_timeout=0.5)
    with pytest.raises(AckTimeoutError, match=r"no acknowledgement for 'N\d+ G1 X\d\*\d+' within 0.5 s"), m.lease("s") as lease:
        for i in range(10):
            lease.request(f"G1 X{i}")
    assert m.state is MachineState.ERROR


def test_disconnect_ends_the_run_quickly(pty_printer, machine_factory) -> None:
    p = pty_printer(faults=(Fault("disconnect", line=30),), buffer=4, move_ms=1)
    m = machine_factory(p.path)
    job = m.print_lines([f"G1 X{i % 10}" for i in range(400)])
    assert job.wait(10)
    assert isinstance(job.error, NotConnectedError) and "machine disconnected" in str(job.error)
    assert m.state is MachineState.ERROR


def test_halt_then_reconnect_reboots_the_board(pty_printer, machine_factory) -> None:
    p = pty_printer(faults=(Fault("halt", line=4),))
    m = machine_factory(p.path)
    with pytest.raises(FirmwareHaltError), m.lease("s") as lease:
        for i in range(6):
            lease.request(f"G1 X{i}")
    m.disconnect()
    assert p.detached.wait(5)  # the simulator saw the port close...
    m.connect()  # ...and reset the board, as DTR does on a real one
    assert m.send("M105")[-1].startswith("ok T:")


def test_garbage_is_survived(pty_printer, machine_factory) -> None:
    p = pty_printer(faults=(Fault("garbage", every=3),))
    m = machine_factory(p.path)
    assert m.print_lines([f"G1 X{i}" for i in range(12)]).result(10).acked == 12


def test_lease_refusal_abort_sequence_and_on_connect(pty_printer, machine_factory) -> None:
    p = pty_printer(buffer=4, move_ms=5)
    m = machine_factory(p.path, on_connect=lambda: ["M104 S0", "M107"], abort_lines=["M140 S0"])
    assert p.firmware.log[-2:] == ["M104 S0", "M107"]
    job = m.print_lines([f"G1 X{i % 10}" for i in range(1000)], name="part")
    with pytest.raises(MachineBusyError, match="'print job part' owns it"):
        m.send("G28", owner="terminal")
    while job.acked < 5:
        time.sleep(0.01)
    job.cancel()
    assert job.wait(10) and job.state == "cancelled"
    sent = [line for line in p.firmware.log if line != "M114"]  # the host asks the position after a job
    assert sent[-2:] == ["M410", "M140 S0"]


def test_seed_000_style_script_moves_the_printer(pty_printer, machine_factory) -> None:
    class Square:  # the shape of a seed-000 automation script object
        def __init__(self, g, logger, settings) -> None:
            self.g, self.settings, self.script_status = g, settings, None

        def run(self) -> tuple[bool, dict[str, object]]:
            g, side = self.g, self.settings["side"]
            g.write("G90")
            g.abs_move(x=0, y=0)
            g.write("G91")
            for dx, dy in ((side, 0), (0, side), (-side, 0), (0, side)):
                g.move(x=dx, y=dy)
            self.script_status = "done"
            return True, {"last_side": side}

    p = pty_printer()
    m = machine_factory(p.path)
    lease = m.lease("square")
    g = make_g(LeasePort(lease))
    ok, store = Square(g, None, {"side": 10.0}).run()
    g.teardown()
    lease.release()
    assert ok and store == {"last_side": 10.0}
    assert p.firmware.pos["X"] == 0.0 and p.firmware.pos["Y"] == 20.0


@pytest.mark.timeout(30)
def test_mecode_on_its_own_connects_to_the_virtual_printer(pty_printer) -> None:
    """Any host, not only scriptdeck: mecode's Printer waits for an 'ok' before it sends a line."""
    from mecode import G

    p = pty_printer(greet_ok=True)
    g = G(direct_write=True, direct_write_mode="serial", printer_port=p.path, baudrate=115200,
          setup=False, print_lines=False)
    try:
        g.write("G28")
        g.abs_move(x=10, y=20)
        assert g.write("M114", resp_needed=True).startswith("X:10.00 Y:20.00")
    finally:
        g.teardown()
    assert p.firmware.pos["X"] == 10.0 and p.firmware.pos["Y"] == 20.0


def test_scriptdeck_ignores_the_greeting_ok(pty_printer, machine_factory) -> None:
    p = pty_printer(greet_ok=True)
    m = machine_factory(p.path)
    assert m.send("M114")[-1] == "ok"
    assert m.firmware_info.get("FIRMWARE_NAME", "").startswith("Marlin")
