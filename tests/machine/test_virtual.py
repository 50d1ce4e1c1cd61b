"""The virtual:// firmware: options, G-code semantics, planner, heaters, faults."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptdeck.errors import ProtocolError
from scriptdeck.machine import Sender, SenderConfig, Stream, frame
from scriptdeck.machine.firmware import Firmware
from scriptdeck.machine.transport import open_transport
from scriptdeck.machine.virtual import Fault, VirtualOptions, VirtualTransport


def feed(fw: Firmware, lines: list[str], now: float = 0.0) -> str:
    for i, line in enumerate(lines, 1):
        fw.receive(frame(i, line), now)
        fw.step(now)
    out = fw.out.decode("ascii", "replace")
    fw.out.clear()
    return out


def test_options_from_url() -> None:
    t = open_transport("virtual://?buffer=8&advanced_ok=1&move_ms=1.5&faults=checksum@5,drop@*10")
    try:
        assert isinstance(t, VirtualTransport)
        o = t.options
        assert (o.buffer, o.advanced_ok, o.move_ms) == (8, True, 1.5)
        assert o.faults == (Fault("checksum", line=5), Fault("drop", every=10))
    finally:
        t.close()


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("virtual://?bufer=3", "unknown option 'bufer'"),
        ("virtual://?buffer=many", "option 'buffer' has value 'many'; not a valid int"),
        ("virtual://?faults=melt@3", "option 'faults' has item 'melt@3'"),
        ("virtual://?advanced_ok=maybe", "expected 1 or 0"),
        ("virtual://?ambient=nan", "option 'ambient' has value 'nan'; must be a finite number"),
        ("virtual://?heat_rate=inf", "option 'heat_rate' has value 'inf'; must be a finite number"),
        ("virtual://?move_ms=-inf", "option 'move_ms' has value '-inf'; must be a finite number"),
        ("virtual://?wait_ms=1e999", "option 'wait_ms' has value '1e999'; must be a finite number"),
        ("virtual://extra/path", "virtual:// takes no host or path, got 'extra/path'"),
        ("virtual://host?buffer=3", "virtual:// takes no host or path, got 'host'"),
        ("virtual:///", "virtual:// takes no host or path, got '/'"),
    ],
)
def test_bad_options_name_key_and_value(url: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        open_transport(url)


def test_positions_follow_modes() -> None:
    fw = Firmware(VirtualOptions(start=False))
    feed(fw, ["G28", "G1 X10 Y5", "G91", "G1 X2 E1", "G90", "M83", "G1 E2", "G92 X0", "G1 Y1", "M114"])
    fw.step(10.0)
    assert fw.pos == {"X": 0.0, "Y": 1.0, "Z": 0.0, "E": 3.0}


def test_m114_and_m105_replies() -> None:
    fw = Firmware(VirtualOptions(start=False))
    out = feed(fw, ["G1 X1.5", "M114", "M105"])
    assert "X:1.50 Y:0.00 Z:0.00 E:0.00 Count" in out
    assert "ok T:21.00 /0.00 B:21.00 /0.00" in out


def test_checksum_and_line_number_errors_request_resend() -> None:
    fw = Firmware(VirtualOptions(start=False))
    fw.receive(b"N1 G1 X1*0\n", 0.0)
    fw.step(0.0)
    assert fw.out.decode() == "Error:checksum mismatch, Last Line: 0\nResend: 1\nok\n"
    fw.out.clear()
    fw.receive(frame(3, "G1 X1"), 0.0)
    fw.step(0.0)
    assert "Line Number is not Last Line Number+1" in fw.out.decode()


def test_heating_blocks_with_reports_until_reached() -> None:
    fw = Firmware(VirtualOptions(start=False, heat_rate=100.0, report_ms=500))
    fw.receive(frame(1, "M109 S121"), 0.0)
    fw.step(0.0)
    assert "ok" not in fw.out.decode()
    fw.step(0.6)
    assert " T:" in fw.out.decode() and "W:?" in fw.out.decode()
    fw.out.clear()
    fw.step(1.1)
    assert fw.out.decode().endswith("ok\n")
    assert fw.heaters["T"].actual == pytest.approx(121.0, abs=1.0)


def test_m400_waits_for_planner_with_busy() -> None:
    fw = Firmware(VirtualOptions(start=False, buffer=4, move_ms=1000, busy_ms=500))
    feed(fw, ["G1 X1", "G1 X2", "M400"])
    fw.step(0.6)
    assert "echo:busy: processing" in fw.out.decode()
    fw.out.clear()
    fw.step(2.1)
    assert fw.out.decode().endswith("ok\n")


def test_planner_full_blocks_the_queue() -> None:
    fw = Firmware(VirtualOptions(start=False, buffer=2, move_ms=1000, bufsize=4, advanced_ok=True))
    out = feed(fw, ["G1 X1", "G1 X2", "G1 X3"])
    assert out.count("ok") == 2  # the third move waits for a planner slot
    fw.step(1.01)
    assert "ok N3 P0" in fw.out.decode()


def test_m112_halts_until_power_on() -> None:
    fw = Firmware(VirtualOptions(start=False))
    out = feed(fw, ["M112", "G1 X1"])
    assert "Error:Printer halted" in out and fw.halted
    fw.power_on(1.0)
    assert not fw.halted and feed(fw, ["G1 X1"]) == "ok\n"


def test_m115_capabilities() -> None:
    out = feed(Firmware(VirtualOptions(start=False, advanced_ok=True)), ["M115"])
    assert "FIRMWARE_NAME:Marlin" in out and "Cap:ADVANCED_OK:1" in out and "Cap:AUTOREPORT_TEMP:1" in out


def test_m155_auto_reports() -> None:
    fw = Firmware(VirtualOptions(start=False))
    feed(fw, ["M155 S1"])
    fw.step(1.05)
    assert fw.out.decode().startswith(" T:21.00")


def test_m154_auto_reports_the_position() -> None:
    fw = Firmware(VirtualOptions(start=False))
    out = feed(fw, ["M115", "G1 X12.5 Y3", "M154 S1"])
    assert "Cap:AUTOREPORT_POS:1" in out
    fw.step(0.5)
    assert b"X:" not in fw.out
    fw.step(1.05)
    assert fw.out.decode().startswith("X:12.50 Y:3.00 Z:0.00 E:0.00 Count")
    fw.out.clear()
    fw.receive(frame(4, "M154 S0"), 1.1)
    fw.step(1.1)
    assert fw.out == b"ok\n"
    fw.step(5.0)
    assert b"X:" not in fw.out


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        ("halt", "Error:Printer halted"),
        ("garbage", "garbage"),
        ("checksum", "Resend: 2"),
    ],
)
def test_faults_fire_once(fault: str, expect: str) -> None:
    fw = Firmware(VirtualOptions(start=False, faults=(Fault(fault, line=2),)))
    out = feed(fw, ["G1 X1", "G1 X2"])
    assert expect in out


def test_drop_stall_disconnect_faults() -> None:
    for kind, attr in (("stall", "stalled"), ("disconnect", "disconnected")):
        fw = Firmware(VirtualOptions(start=False, faults=(Fault(kind, line=1),)))
        feed(fw, ["G1 X1"])
        assert getattr(fw, attr)
    fw = Firmware(VirtualOptions(start=False, faults=(Fault("drop", line=1),)))
    assert feed(fw, ["G1 X1"]) == ""


@pytest.mark.timeout(60)
@settings(max_examples=15, deadline=None)
@given(
    bad=st.sets(st.integers(1, 120), max_size=12),
    flow=st.sampled_from(["pingpong", "buffered"]),
    rx=st.sampled_from([0, 64, 128]),
)
def test_every_line_runs_once_in_order_despite_checksum_faults(bad: set[int], flow: str, rx: int) -> None:
    faults = tuple(Fault("checksum", line=n) for n in sorted(bad))
    t = VirtualTransport(VirtualOptions(start=False, rx_size=rx, faults=faults, buffer=4, bufsize=4))
    s = Sender(t, SenderConfig(flow=flow, rx_size=rx or 128))
    s.start()
    try:
        lines = [f"G1 X{i}" for i in range(120)]
        stream = s.stream(Stream(lines))
        assert stream.finished.wait(20)
        assert stream.error is None
        assert t.firmware.log == lines
        assert t.firmware.stats["rx_dropped"] == 0
    finally:
        s.close()
