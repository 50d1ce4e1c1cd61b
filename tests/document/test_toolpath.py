"""Toolpath: positions, layers, bounds, extrusion, time, tool changes, line index, modal state, preview, the scanner."""

from __future__ import annotations

import json
import math
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptdeck.document import GcodeDocument, Line, ModalState, Stats, analyse
from scriptdeck.document.scan import scan
from scriptdeck.document.timing import move_times

FIXTURES = Path(__file__).parent / "fixtures"


def tp(text: str, **kwargs: float):  # type: ignore[no-untyped-def]
    return analyse(text.encode(), **kwargs)


def test_absolute_relative_and_g92() -> None:
    t = tp("G1 X10 Y5\nG91\nG1 X1 Y1\nG1 X1\nG90\nG92 X0\nG1 X5\nG1 Y0\n")
    assert t.x.tolist() == [10, 10, 11, 12, 12, 12, 17, 17]  # machine coordinates: G92 X0 at 12, X5 → 17
    assert t.y.tolist() == [5, 5, 6, 6, 6, 6, 6, 0]


def test_extruder_modes() -> None:
    t = tp("M82\nG1 X1 E5\nG92 E0\nG1 X2 E1\nM83\nG1 X3 E0.5\nG1 X4 E-0.2\nG90\nG1 X5 E3\n")
    # G90 makes E absolute again (Marlin): E3 is 3 past the G92 E0, i.e. machine E 8.
    assert t.e.tolist() == pytest.approx([0, 5, 5, 6, 6, 6.5, 6.3, 6.3, 8])
    assert t.stats.extrusion_mm == pytest.approx(5 + 1 + 0.5 + 1.7)  # the retract is not laid down


def test_inches_and_homing() -> None:
    t = tp("G20\nG1 X1 Y2\nG21\nG1 X10\nG92 Y100\nG28 X\nG1 Y50\nG28\n")
    assert t.x.tolist() == pytest.approx([0, 25.4, 25.4, 10, 10, 0, 0, 0])
    assert t.y.tolist() == pytest.approx([0, 50.8, 50.8, 50.8, 50.8, 50.8, 0.8, 0])


def test_bare_coordinates_continue_the_motion_mode() -> None:
    t = tp("G21 G90\nG0 X5\nY7\nG1 Z1\nX3\n")
    assert t.is_move.tolist() == [False, True, True, True, True]
    assert (t.x[-1], t.y[-1], t.z[-1]) == (3, 7, 1)


def test_message_text_is_no_mode_and_no_feed() -> None:
    # The text of M117 and the like is no words (Line.argument), though the scanner reads some there.
    plain = tp("G90\nG1 X5 F600\nG1 X10\n")
    t = tp("G90\nG1 X5 F600\nM117 G91 G20 M83 F99 done\nG1 X10\n")
    assert t.x.tolist() == [0, 5, 5, 10]  # X10 neither relative nor in inches
    assert t.stats.estimated_seconds == plain.stats.estimated_seconds


def test_arcs_ij_and_r() -> None:
    t = tp("G1 X10 Y0\nG2 X0 Y0 I-5 J0 E1\nG3 X10 Y0 R5 E2\nG2 X10 Y0 I-5 J0\n")
    clockwise = t.arcs[1][:, 1]
    assert clockwise.min() == pytest.approx(-5, abs=0.01) and clockwise.max() <= 1e-9  # G2 from the east: down
    counter = t.arcs[2]
    assert counter[:, 1].min() == pytest.approx(-5, abs=0.01) and counter[:, 1].max() <= 1e-9  # G3 from the west: down
    assert np.hypot(counter[:, 0] - 5, counter[:, 1]) == pytest.approx(5, abs=1e-9)  # R5 across a 10 mm chord
    assert len(t.arcs[3]) > 20 and t.arcs[3][:, 1].max() == pytest.approx(5, abs=0.01)  # I/J, start = end: full circle
    assert t.stats.bounds is not None and t.stats.bounds.max_y == pytest.approx(0, abs=1e-9)
    assert t.stats.travel_bounds is not None and t.stats.travel_bounds.max_y == pytest.approx(5, abs=0.01)
    assert t.stats.extrusion_mm == 2


def test_cura_layers_and_bounds() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "cura.gcode")
    stats = doc.stats()
    assert stats.layers == 2 and stats.layer_z == [0.2, 0.4]
    assert doc[doc.layers[0].first_line].raw == ";LAYER:0"
    assert doc[doc.layers[1].first_line].raw == ";LAYER:1"
    b = stats.bounds
    assert b is not None
    # The purge line at X0.1 is extrusion before ;LAYER:0 and counts in the printed bounds.
    assert (b.min_x, b.min_y, b.max_x, b.max_y, b.max_z) == pytest.approx((0.1, 10, 20, 30, 0.4))
    assert stats.travel_bounds is not None and stats.travel_bounds.max_y == 220
    assert stats.extrusion_mm == pytest.approx(1 + 1.33044 + 1.33044)  # purge + two walls; retracts don't count


def test_prusaslicer_layers_and_m204() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "prusaslicer.gcode")
    stats = doc.stats()
    assert stats.layers == 2 and stats.layer_z == [0.2, 0.4]
    assert doc[doc.layers[1].first_line].raw == ";LAYER_CHANGE"
    # M204 P1250 in the file beats the default, so changing the default changes nothing.
    assert doc.stats(acceleration=100).estimated_seconds == pytest.approx(stats.estimated_seconds)
    assert stats.estimated_seconds > 2.0  # includes the G4 S2 dwell


def test_simplify3d_layers_and_tools() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "simplify3d_crlf_nofinal.gcode")
    stats = doc.stats()
    assert stats.layers == 2 and stats.layer_z == [0.2, 0.4]
    assert doc[doc.layers[0].first_line].raw.startswith("; layer 1, Z = 0.200")
    assert stats.tool_changes == 0  # selecting T0 first is not a change
    t = tp("T0\nG1 X1 E1\nT1\nG1 X2 E1\nT1\nT0\nM6 T2\n")
    assert [(c.line, c.tool) for c in t.tool_changes] == [(2, 1), (5, 0), (6, 2)]


def test_layers_from_z_changes_ignore_z_hops() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "plain_mixed.gcode")
    assert [layer.z for layer in doc.layers] == [0.3, 0.6]
    # The hop to Z1.0 extrudes nothing; layer 1 starts at the first Z move after layer 0's last extrusion.
    assert doc[doc.layers[1].first_line].raw == "G1 Z0.6"
    assert doc.layers[0].first_line == 6  # "G0 Z0.3" brought the head to the first layer
    assert doc.stats().estimated_seconds >= 0.5  # the G4 P500 after a ( ) comment


def test_line_index() -> None:
    t = GcodeDocument.from_file(FIXTURES / "cura.gcode").toolpath()
    first = t.first_line_of_layer(1)
    assert t.layer_of_line(first) == 1 and t.layer_of_line(first - 1) == 0 and t.layer_of_line(0) == -1
    lines = t.layer_lines()
    assert lines[first] == 1 and lines[0] == -1 and lines.size == t.stats.lines
    assert t.layer_at_z(0.3) == t.layers[1] and t.layer_at_z(0.1) == t.layers[0] and t.layer_at_z(9) is None


def test_stats_to_json() -> None:
    stats = GcodeDocument.from_file(FIXTURES / "cura.gcode").stats()
    assert isinstance(stats, Stats)
    data = json.loads(stats.to_json())
    assert data["layers"] == 2 and data["layer_z"] == [0.2, 0.4] and data["bounds"]["max_x"] == 20
    assert set(data) >= {"lines", "moves", "layers", "bounds", "extrusion_mm", "estimated_seconds", "tool_changes"}


def test_trapezoid_time_of_one_move() -> None:
    # 100 mm at 50 mm/s, 1000 mm/s²: 0.05 s up, 0.05 s down (1.25 mm each), 97.5 mm cruise = 1.95 s.
    t = tp("G1 X100 F3000\n")
    assert t.stats.estimated_seconds == pytest.approx(2.05)
    # Too short to reach the feed: 2 mm peaks at √(1000·2) ≈ 44.7 mm/s.
    assert tp("G1 X2 F3000\n").stats.estimated_seconds == pytest.approx(2 * math.sqrt(2 / 1000))
    assert tp("G1 X100 F3000\n", acceleration=500).stats.estimated_seconds == pytest.approx(2.1)
    assert tp("M204 S500\nG1 X100 F3000\n").stats.estimated_seconds == pytest.approx(2.1)


def test_corners_slow_down_but_straight_lines_do_not() -> None:
    straight = tp("G1 X50 F3000\nG1 X100\n").stats.estimated_seconds
    assert straight == pytest.approx(2.05)
    corner = tp("G1 X50 F3000\nG1 X50 Y50\n").stats.estimated_seconds
    reverse = tp("G1 X50 F3000\nG1 X0\n").stats.estimated_seconds
    assert straight < corner < reverse == pytest.approx(2.1)


def test_move_times_vectorised_matches_formula() -> None:
    one = np.ones(1)
    zero = np.zeros(1)
    assert move_times(one * 100, one * 50, one * 1000, one, zero, zero)[0] == pytest.approx(2.05)


def test_preview_layers_and_decimation() -> None:
    doc = GcodeDocument.from_file(FIXTURES / "prusaslicer.gcode")
    full = doc.preview()
    assert [layer.index for layer in full.layers] == [-1, 0, 1]  # the intro line comes first
    assert full.layers[1].paths[0][:4] == [110.5, 110.5, 120.5, 110.5]
    assert full.stride == 1 and full.points == full.source_points
    small = doc.preview(max_segments=12)
    assert small.points <= 12 and small.stride > 1
    json.loads(small.to_json())
    lines = ["G1 Z0.2 F1200"] + [f"G1 X{i % 100} Y{i // 100} E{i}" for i in range(5000)]
    big = GcodeDocument.from_text("\n".join(lines)).preview(max_segments=500)
    assert big.points <= 500 and big.source_points == 5000  # E0 on the first move prints nothing
    assert GcodeDocument(b"G28\n").preview().layers == []


def test_empty_and_comment_only() -> None:
    for data in (b"", b"; nothing\n", b"M104 S200"):
        stats = analyse(data).stats
        assert stats.moves == 0 and stats.layers == 0 and stats.bounds is None and stats.estimated_seconds == 0


# -- modal state ----------------------------------------------------------------------------------


def modes(text: str) -> list[tuple[bool, bool, float, float | None, str]]:
    t = tp(text)
    return [astuple(t.state_at(i)) for i in range(t.stats.lines)]


def test_state_at_follows_g90_g91_and_m82_m83() -> None:
    # (xyz_relative, e_relative) per line: M82/M83 override G90/G91 for E until the next G90/G91.
    assert [m[:2] for m in modes("G91\nM82\nG1 X1\nG90\nM83\nG1 X2\nG91\nM82 ; again\nM83\nG90\n")] == [
        (True, True), (True, False), (True, False), (False, False), (False, True), (False, True), (True, True),
        (True, False), (True, True), (False, False)]
    # G91 after M83 makes E relative too (it already was); G90 then makes both absolute again (Marlin).
    assert [m[:2] for m in modes("M83\nG91\nG90\n")] == [(False, True), (True, True), (False, False)]
    # Marlin executes a line's first word only: the others are its parameters, whatever they are.
    assert [m[:2] for m in modes("M83 G90\nG91 M82\nG90 G91\nM82 M83\n")] == [
        (False, True), (True, True), (False, False), (False, False)]


def test_state_at_takes_modes_from_the_command_only() -> None:
    t = tp("G1 X5\nG1 X1 G91\nG1 X1\nG91 G1 X1\nG1 X1\n")
    assert t.x.tolist() == [5, 1, 1, 1, 2]  # "G1 X1 G91" is an absolute move, "G91 G1 X1" no move at all
    assert [t.state_at(i).xyz_relative for i in range(5)] == [False, False, False, True, True]


def test_state_at_reads_spaces_after_a_letter_like_marlin() -> None:
    t = tp("G1 X5\nG 91\nG1 X 1 E  2 F 600\nM 82\nG  90\nG1 X -3\n")
    assert [m[:3] for m in modes("G 91\nM  82\nG 20\n")] == [(True, True, 1.0), (True, False, 1.0), (True, False, 25.4)]
    assert t.x.tolist() == [5, 5, 6, 6, 6, -3]
    assert t.e.tolist() == [0, 0, 2, 2, 2, 2]
    assert t.state_at(2) == ModalState(xyz_relative=True, e_relative=True, feed=600.0)


def test_state_at_units_and_feed() -> None:
    text = "M104 S200\nG20\nG1 X1 F10\nM117 F99 G21 G91 M83 is a message\nG1 X2\nG21\nG1 F600\nG28 F3000\n"
    t = tp(text)
    assert t.state_at(0) == ModalState()  # before any modal word: the state before the program
    assert [t.state_at(i).unit for i in range(8)] == [1, 25.4, 25.4, 25.4, 25.4, 1, 1, 1]
    # F is read in its own line's units and stays mm/min when the units change; F counts on any
    # line (as for the time estimate), never in a message; None until the first F.
    assert [t.state_at(i).feed for i in range(8)] == [None, None, 254, 254, 254, 254, 600, 3000]
    assert t.state_at(3) == t.state_at(2)  # the message switched nothing
    assert t.x[4] == pytest.approx(50.8)  # nor did it make X2 relative or metric
    assert t.state_at(7) == ModalState(unit=1.0, feed=3000.0)


def test_state_at_motion_mode() -> None:
    assert [m[4] for m in modes("M104 S200\nG0 X1\nX2\nG2 X3 Y1 I1 J0\nY3\nG1 X0\n")] == [
        "G1", "G0", "G0", "G2", "G2", "G1"]


def test_state_at_first_and_last_line_and_out_of_range() -> None:
    t = GcodeDocument.from_file(FIXTURES / "prusaslicer.gcode").toolpath()
    last = t.stats.lines - 1
    assert t.state_at(0) == ModalState()
    assert t.state_at(last) == ModalState(xyz_relative=False, e_relative=True, unit=1.0, feed=t.feed[last], motion="G1")
    for line in (last + 1, -1):  # -1 would pass for "before line 0": refused, not read from the end
        with pytest.raises(IndexError, match=rf"line {line} is out of range: the toolpath has lines 0\.\.{last}$"):
            t.state_at(line)
    with pytest.raises(IndexError, match="line 0 is out of range: the toolpath has no lines"):
        tp("").state_at(0)


def test_modal_arrays_are_read_only() -> None:
    for t in (tp("M83\nG1 X1 F600\n"), tp("G20\nG1 X1\n")):  # unit: a shared 1.0, then an array
        assert t.unit.size == t.xyz_relative.size == t.e_relative.size == t.feed.size == t.motion.size == 2
        for name in ("unit", "xyz_relative", "e_relative", "feed", "motion"):
            with pytest.raises(ValueError, match="read-only"):
                getattr(t, name)[0] = 1


def modes_line_by_line(text: str) -> list[tuple[bool, bool, float, float | None, str]]:
    """The modes of every line with ``Line`` and the rules of docs/document.md, one line at a time."""
    xyz = e = False
    unit, feed, motion = 1.0, None, "G1"
    out = []
    for raw in text.split("\n"):
        line = Line(raw.rstrip("\r"))
        if line.command in ("G20", "G21"):
            unit = 25.4 if line.command == "G20" else 1.0
        elif line.command in ("G90", "G91"):
            xyz = e = line.command == "G91"
        elif line.command in ("M82", "M83"):
            e = line.command == "M83"
        f = line.words.get("F")
        feed = f * unit if f is not None else feed
        motion = line.command if line.command in ("G0", "G1", "G2", "G3") else motion
        out.append((xyz, e, unit, feed, motion))
    return out[:-1] if text.endswith("\n") or not text else out


_modal_line = st.sampled_from([
    "G90", "G91", "M82", "M83", "G20", "G21", "G21 G90", "M83 G90", "G91 M82", "g91", "G1 X1 F600", "G0 X2 F7.5",
    "G 91", "m  83", "G 20 ", "G1 X 1 F 900", "G91 G90", "M82 M83", "G1 X1 G91", "N7 G91 *33", "G 9 1",
    "X3 Y1", "G2 X1 Y1 I1 J0", "G3 X0 Y0 R2", "F1200", "G1 E-1 F2700 ; F1 in a comment", "M117 G91 F9 M83 text",
    "M118 M83 G20", "G28 F3000", "; G91 comment", "(G20) G1 X1", "M104 S200", "G92 E0", "",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_modal_line, max_size=30), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_state_at_matches_reading_line_by_line(lines: list[str], ending: str, final: bool) -> None:
    text = ending.join(lines) + (ending if final else "")
    t = tp(text)
    expected = modes_line_by_line(text)
    assert [astuple(t.state_at(i)) for i in range(t.stats.lines)] == expected  # F * unit: the same product


_number = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(-1e5, 1e5, allow_nan=False).map(lambda f: f"{f:.5f}"),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda f: f"{f:.3f}".rstrip("0")),
    st.sampled_from([".5", "-.25", "+3", "7.", "0001.50", "-0"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("XYZEF"), _number), min_size=1, max_size=5))
def test_scanner_reads_numbers_exactly_like_float(words: list[tuple[str, str]]) -> None:
    line = "G1 " + " ".join(f"{letter}{value}" for letter, value in words) + " ; X99"
    result = scan(line.encode())
    expected: dict[str, float] = {}
    for letter, value in words:
        expected[letter] = float(value)
    for letter in "XYZEF":
        got = result.values[letter][0]
        if letter in expected:
            assert got == expected[letter]
        else:
            assert math.isnan(got)
    assert chr(result.letter[0]) == "G" and result.number[0] == 1


def test_scanner_ignores_comments_and_malformed_numbers() -> None:
    result = scan(b"G1 X1.2.3 Y--4 Z+7 (X5) ; E9\nM117 Layer5 X\n")
    assert math.isnan(result.values["X"][0]) and math.isnan(result.values["Y"][0])
    assert result.values["Z"][0] == 7 and math.isnan(result.values["E"][0])
    assert result.number[1] == 117
