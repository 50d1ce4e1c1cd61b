"""A real mecode.G whose g._p is a scriptdeck lease."""

from __future__ import annotations

import pytest
from mecode import G

from scriptdeck.errors import MachineBusyError, MachineError
from scriptdeck.machine.mecode_bridge import LeasePort, PrinterPort, make_g

pytestmark = pytest.mark.timeout(30)


def test_g_moves_writes_and_reads(machine_factory) -> None:
    m = machine_factory("virtual://")
    lease = m.lease("script")
    port = LeasePort(lease)
    assert isinstance(port, PrinterPort)
    g = make_g(port)
    assert isinstance(g, G) and g._p is port
    g.write("G90")
    g.move(x=10, y=5)
    g.abs_move(z=2)
    resp = g.write("M105", resp_needed=True)
    assert resp.startswith("ok T:")
    assert port.temp_readings[-1].startswith("ok T:")
    assert g._p.current_position() == {"X": 10.0, "Y": 5.0, "Z": 2.0, "E": 0.0}
    g._p.reset_linenumber()
    assert port.get_response("M114").startswith("X:10.00")
    g.teardown()  # mecode's teardown -> _p.disconnect(wait=True)
    with pytest.raises(MachineError, match="torn down"):
        g.write("G1 X1")
    lease.release()


def test_g_paused_property_pauses_the_machine(machine_factory) -> None:
    m = machine_factory("virtual://")
    port = LeasePort(m.lease("script"))
    port.paused = True
    assert port.paused and m.state.value == "paused"
    port.paused = False
    assert not port.paused
    port.lease.release()


def test_g_of_a_lost_lease_is_refused(machine_factory) -> None:
    m = machine_factory("virtual://")
    lease = m.lease("script")
    g = make_g(LeasePort(lease))
    lease.release()
    m.lease("terminal")
    with pytest.raises(MachineBusyError, match="'terminal' does"):
        g.move(x=1)
