from __future__ import annotations

from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scriptdeck.machine.protocol import (
    ReplyKind,
    Temperature,
    checksum,
    clean_line,
    fast_ok,
    frame,
    is_recoverable_error,
    parse_position,
    parse_reply,
    parse_temperatures,
)


def test_frame_matches_marlin_checksum() -> None:
    assert frame(0, "M110 N0") == b"N0 M110 N0*125\n"
    assert frame(1, "G28") == b"N1 G28*18\n"


@given(st.integers(0, 10**6), st.text(alphabet="GMXYZEF0123456789. -", min_size=1, max_size=60))
def test_frame_checksum_is_xor_of_body(n: int, cmd: str) -> None:
    data = frame(n, cmd)
    body, _, cs = data.rstrip(b"\n").rpartition(b"*")
    assert int(cs) == checksum(body)
    assert body.startswith(b"N%d " % n)


def test_clean_line_strips_comments() -> None:
    assert clean_line("  G1 X5 ; move  ") == "G1 X5"
    assert clean_line("; only a comment") == ""


@pytest.mark.parametrize(
    ("source", "sent"),
    [
        ("N5 G1 X3", "G1 X3"),  # CAM output numbers its lines; the sender numbers them again
        ("G1 Y2*99", "G1 Y2"),
        ("N6 G1 X3*62 ; move", "G1 X3"),
        ("n7G28", "G28"),  # Marlin: "N", a digit or "-", digits, blanks
        ("N-1 M110", "M110"),
        ("G1 X1 * 12", "G1 X1"),
        ("N5", ""),
        ("M110 N0", "M110 N0"),  # a parameter, not a line number
        ("N0 M110 N0*125", "M110 N0"),
        ("M117 a*b", "M117 a*b"),  # only a trailing *<digits> is a checksum
        ("M117 a*b*12", "M117 a*b"),
        ("NX", "NX"),
        ("*", "*"),
    ],
)
def test_clean_line_strips_a_line_number_and_checksum(source: str, sent: str) -> None:
    assert clean_line(source) == sent


def test_plain_ok() -> None:
    r = parse_reply("ok")
    assert r.kind is ReplyKind.OK and r.line is None and r.temperatures == {}


def test_ok_with_temperatures() -> None:
    r = parse_reply("ok T:20.1 /200.0 B:21.0 /60.0 @:0 B@:0")
    assert r.kind is ReplyKind.OK
    assert r.temperatures == {"T": Temperature(20.1, 200.0), "B": Temperature(21.0, 60.0)}
    assert r.buffer_free is None  # "B:21.0" is the bed, not ADVANCED_OK's B


def test_ok_with_position() -> None:
    r = parse_reply("ok X:1.00 Y:2.00 Z:3.00 E:0.00")
    assert r.kind is ReplyKind.OK and r.position == {"X": 1.0, "Y": 2.0, "Z": 3.0, "E": 0.0}


def test_advanced_ok() -> None:
    r = parse_reply("ok N12 P15 B3")
    assert (r.line, r.planner_free, r.buffer_free) == (12, 15, 3)


def test_resend_with_and_without_space() -> None:
    assert parse_reply("Resend: 6").line == 6
    assert parse_reply("Resend:5").line == 5
    assert parse_reply("rs N7").line == 7
    assert parse_reply("Resend:5").kind is ReplyKind.RESEND


def test_keepalives_and_start() -> None:
    assert parse_reply("echo:busy: processing").kind is ReplyKind.BUSY
    assert parse_reply("busy: paused for user").kind is ReplyKind.BUSY
    assert parse_reply("wait").kind is ReplyKind.WAIT
    assert parse_reply("start").kind is ReplyKind.START


def test_errors_recoverable_or_halt() -> None:
    assert parse_reply("Error:checksum mismatch, Last Line: 4").kind is ReplyKind.ERROR
    assert is_recoverable_error("Error:Line Number is not Last Line Number+1, Last Line: 3")
    assert is_recoverable_error("Error:No Checksum with line number, Last Line: 3")
    assert not is_recoverable_error("Error:Printer halted. kill() called!")
    assert not is_recoverable_error("Error:Thermal Runaway, system stopped! Heater_ID: 0")


def test_m155_auto_report_and_m114() -> None:
    r = parse_reply(" T:21.00 /0.00 B:20.00 /0.00 @:0 B@:0")
    assert r.kind is ReplyKind.OTHER and r.temperatures["B"] == Temperature(20.0, 0.0)
    assert parse_position("X:1.00 Y:2.00 Z:3.00 E:4.00 Count X:80 Y:160 Z:1200") == {
        "X": 1.0, "Y": 2.0, "Z": 3.0, "E": 4.0,
    }
    assert parse_position("echo:Unknown command") is None


def test_multi_tool_temperatures() -> None:
    t = parse_temperatures("T0:200.0 /210.0 T1:100.0 /0.0 B:60.0 /60.0")
    assert t["T0"] == Temperature(200.0, 210.0) and t["T1"].actual == 100.0


@given(st.binary(max_size=80))
def test_parse_reply_never_raises(data: bytes) -> None:
    parse_reply(data.decode("ascii", "replace"))


@given(st.binary(max_size=200))
def test_checksum_fold_equals_bytewise_xor(data: bytes) -> None:
    # The folded integer XOR (≤ 64 bytes) and the byte loop (longer lines) agree with the definition.
    assert checksum(data) == reduce(xor, data, 0)


def test_fast_ok_takes_plain_and_advanced_ok_only() -> None:
    m = fast_ok(b"ok N12 P15 B3")
    assert m is not None and m.groups() == (b"15", b"3")
    m = fast_ok(b"ok\r")
    assert m is not None and m.groups() == (None, None)
    for other in (b"ok T:200.0 /200.0", b"ok X:1.00 Y:2.00", b"okay", b"Resend: 3", b"wait", b"\x00ok"):
        assert fast_ok(other) is None, other


def test_parse_reply_is_the_same_for_a_repeated_line() -> None:
    text = "ok T:21.00 /0.00 B:21.00 /0.00 @:0 B@:0"
    first, again = parse_reply(text), parse_reply(text)
    assert first == again and first.temperatures["T"] == Temperature(21.0, 0.0)
    assert parse_reply("ok N7 P3 B1").buffer_free == 1
    assert parse_reply("ok T:20.0 /0.0 B:21.0 /0.0").buffer_free is None  # B: is the bed, not ADVANCED_OK
