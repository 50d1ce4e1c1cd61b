"""The fast scan and toolpath against references: the previous implementation and the per-line parser.

``reference_scan.py``/``reference_toolpath.py`` are the scanner and interpreter as they were before the
SWAR scan and the event-only position sums; the fast path must give the same arrays and statistics.
The per-line interpreter below follows docs/document.md with ``Line``, one line at a time.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptdeck.document import Line, analyse
from scriptdeck.document import scan as fast_scan

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"


def _load(name: str) -> ModuleType:
    # The tests are no package (pytest runs them with --import-mode=importlib): load by path.
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


reference_scan = _load("reference_scan")
reference_toolpath = _load("reference_toolpath")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def assert_same_scan(data: bytes) -> None:
    new, old = fast_scan.scan(data), reference_scan.scan(data)
    assert new.lines == old.lines
    assert _same(new.letter, old.letter)
    assert _same(new.number, old.number)
    assert _same(new.newlines, old.newlines)
    assert new.modal == old.modal
    for axis in "XYZEF":
        assert _same(new.values[axis], old.values[axis]), axis


def assert_same_toolpath(data: bytes, **kwargs: Any) -> None:
    new, old = analyse(data, **kwargs), reference_toolpath.analyse(data, **kwargs)
    assert new.stats.to_dict() == old.stats.to_dict()
    for name in ("x", "y", "z", "e", "is_move", "printing", "layer_starts"):
        assert _same(getattr(new, name), getattr(old, name)), name
    assert [vars(layer) for layer in new.layers] == [vars(layer) for layer in old.layers]
    assert [(c.line, c.tool) for c in new.tool_changes] == [(c.line, c.tool) for c in old.tool_changes]
    assert new.arcs.keys() == old.arcs.keys()
    for line, points in new.arcs.items():
        assert _same(points, old.arcs[line])


# -- programs ------------------------------------------------------------------------------------

_number = st.one_of(
    st.integers(-999, 999).map(str),
    st.floats(-500, 500, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.floats(0, 1e5, allow_nan=False).map(lambda f: f"{f:.5f}"),
    st.sampled_from([".5", "-.25", "+3", "7.", "0001.50", "-0", "0", "123456789.5", "0.123456789",
                     "1234567.89012345", "000000000012.5"]),
)
_axis_word = st.tuples(st.sampled_from("XYZEF"), _number).map(lambda w: f"{w[0]}{w[1]}")
_move = st.tuples(st.sampled_from(["G0", "G1", "G01", "g1", ""]), st.lists(_axis_word, min_size=1, max_size=4)).map(
    lambda m: " ".join([m[0], *m[1]]).strip()
)
_arc = st.tuples(
    st.sampled_from(["G2", "G3"]), st.floats(-20, 20).map(lambda f: f"{f:.2f}"), st.floats(-20, 20).map(lambda f: f"{f:.2f}"),
    st.sampled_from(["I5 J0", "I0 J-4", "R6", "R-6", "I-3 J3"]), st.sampled_from(["", " E0.5", " Z1"]),
).map(lambda a: f"{a[0]} X{a[1]} Y{a[2]} {a[3]}{a[4]}")
_other = st.sampled_from([
    "G90", "G91", "M82", "M83", "G20", "G21", "G21 G90", "G92 E0", "G92 X10 Y-5", "G92", "G28", "G28 X", "G28 Z0",
    "M204 S500", "M204 P800 T1500", "M204 R300", "G4 P250", "G4 S1", "T0", "T1", "M6 T2", "M104 S200",
    "M117 Layer 5 X10", ";LAYER:0", ";LAYER_CHANGE", "; layer 2, Z = 0.4", "", "; comment X5 G1", "(G1 X99) G1 X2",
    "G1 X1 (Y9) Y2 ; E7", "N10 G1 X3 *57", "M600", "G29.1", "G1 X1.2.3 Y--4", "G1 Layer5 X1", "\tG1  X4   Y5",
])
_line = st.one_of(_move, _move, _move, _arc, _other)
_program = st.tuples(st.lists(_line, max_size=40), st.sampled_from(["\n", "\r\n"]), st.booleans()).map(
    lambda p: p[1].join(p[0]) + (p[1] if p[2] else "")
)


@settings(max_examples=300, deadline=None)
@given(_program, st.sampled_from([1 << 18, 64, 7]))
def test_scan_matches_the_previous_scanner(text: str, chunk: int) -> None:
    # Small chunks put chunk boundaries everywhere (and lines longer than a chunk).
    old_chunk = fast_scan._CHUNK
    fast_scan._CHUNK = chunk
    try:
        assert_same_scan(text.encode())
    finally:
        fast_scan._CHUNK = old_chunk


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_scan_matches_the_previous_scanner_on_any_bytes(data: bytes) -> None:
    assert_same_scan(data)


@pytest.mark.parametrize(
    "word",
    ["1", "-0", "+.5", "5.", "0.1", "123.456", "-99999999.99999999", "12345678", "123456789", "0.000000001",
     "1234567890.5", "9007199254740993", "123456789012345.6", "0" * 45 + "1", "1" * 40, ".", "-", "+", "1.2.3",
     "1-2", "--4", "+-4", "1..2", "-.", "00000000000000000000.5"],
)
def test_scan_reads_any_word_like_float(word: str) -> None:
    # The fast path reads up to 8 digits each side of the dot; longer words go through float() itself.
    value = fast_scan.scan(f"G1 X{word}\n".encode()).values["X"][0]
    digits = sum(c.isdigit() for c in word)
    try:
        expected = float(word) if digits < 40 else math.nan
    except ValueError:
        expected = math.nan
    assert value == expected or (math.isnan(value) and math.isnan(expected))
    assert math.copysign(1, value) == math.copysign(1, expected)


@settings(max_examples=200, deadline=None)
@given(_program, st.sampled_from([1000.0, 250.0]))
def test_toolpath_matches_the_previous_interpreter(text: str, acceleration: float) -> None:
    assert_same_toolpath(text.encode(), acceleration=acceleration)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.gcode")), ids=lambda p: p.name)
def test_fixtures_match_the_previous_interpreter(path: Path) -> None:
    assert_same_scan(path.read_bytes())
    assert_same_toolpath(path.read_bytes())


def test_benchmark_job_matches_the_previous_interpreter(tmp_path: Path) -> None:
    # The benchmark's generator (layers, retracts, a relative-move tail) at a size a test can afford.
    spec = importlib.util.spec_from_file_location("bench_document", HERE.parents[1] / "benchmarks" / "document.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path / "job.gcode"
    bench.generate(path, 20_000)
    assert_same_scan(path.read_bytes())
    assert_same_toolpath(path.read_bytes())


# -- the per-line interpreter ---------------------------------------------------------------------


def per_line(text: str) -> dict[str, list[Any]]:
    """Positions, moves and printing moves line by line, with ``Line`` and the rules of docs/document.md."""
    pos = dict.fromkeys("XYZE", 0.0)  # machine coordinates
    offset = dict.fromkeys("XYZE", 0.0)  # G92: machine = work + offset
    rel_xyz = rel_e = False
    unit = 1.0
    out: dict[str, list[Any]] = {"x": [], "y": [], "z": [], "e": [], "is_move": [], "printing": []}
    for raw in text.split("\n"):
        line = Line(raw.rstrip("\r"))
        for word in line.code.split():
            if word.upper() in ("G20", "G21"):
                unit = 25.4 if word.upper() == "G20" else 1.0
            elif word.upper() in ("G90", "G91"):
                rel_xyz = rel_e = word.upper() == "G91"
            elif word.upper() in ("M82", "M83"):
                rel_e = word.upper() == "M83"
        command, words = line.command, line.words
        axes = {a: words[a] * unit for a in "XYZE" if words.get(a) is not None}  # type: ignore[operator]
        is_move = command in ("G0", "G1") or (command is None and bool(axes))
        start = dict(pos)
        if is_move:
            for a, v in axes.items():
                relative = rel_e if a == "E" else rel_xyz
                pos[a] = pos[a] + v if relative else v + offset[a]
        elif command == "G92":
            for a, v in axes.items():
                offset[a] = pos[a] - v
        elif command == "G28":
            for a in [a for a in "XYZ" if a in words] or "XYZ":
                pos[a] = offset[a] = 0.0
        moved = any(abs(pos[a] - start[a]) > 0 for a in "XYZ")
        for a in "XYZE":
            out[a.lower()].append(pos[a])
        out["is_move"].append(is_move)
        out["printing"].append(is_move and moved and pos["E"] - start["E"] > 1e-9)
    if text.endswith("\n") or not text:  # no line after a final newline, none at all in ""
        for values in out.values():
            values.pop()
    return out


_simple_other = st.sampled_from(["G90", "G91", "M82", "M83", "G20", "G21", "G92 E0", "G92 X10 Y-5", "G28", "G28 X",
                                 "M104 S200", "; comment X5", ";LAYER:1", ""])
_simple_number = st.one_of(st.integers(-99, 99).map(str), st.floats(-200, 200).map(lambda f: f"{f:.3f}"))
_simple_move = st.tuples(
    st.sampled_from(["G0", "G1", ""]),
    st.lists(st.tuples(st.sampled_from("XYZE"), _simple_number), min_size=1, max_size=4, unique_by=lambda w: w[0]),
).map(lambda m: " ".join([m[0], *(f"{a}{v}" for a, v in m[1])]).strip())
_simple_program = st.lists(st.one_of(_simple_move, _simple_move, _simple_other), max_size=40).map("\n".join)


@settings(max_examples=300, deadline=None)
@given(_simple_program)
def test_positions_match_the_per_line_interpreter(text: str) -> None:
    expected = per_line(text)
    tp = analyse(text.encode())
    for axis in "xyze":
        assert getattr(tp, axis).tolist() == pytest.approx(expected[axis], abs=1e-9), axis
    assert tp.is_move.tolist() == expected["is_move"]
    assert tp.printing.tolist() == expected["printing"]


@pytest.mark.parametrize(
    ("text", "x"),
    [
        # Relative runs separated by an absolute move: each run starts from the value set before it.
        ("G91\nG1 X1\nG1 X2\nG90\nG1 X5\nG91\nG1 X1\nG1 X0.5\n", [0, 1, 3, 3, 5, 5, 6, 6.5]),
        # G92 in the middle of relative moves, then homing clears the offset.
        ("G1 X10\nG91\nG1 X1\nG92 X0\nG1 X2\nG90\nG1 X1\nG28 X\nG1 X1\n", [10, 10, 11, 11, 13, 13, 12, 0, 1]),
        ("G92 X5\nG1 X1\nG92 X0\nG1 X1\n", [0, -4, -4, -3]),
    ],
)
def test_relative_runs_and_offsets(text: str, x: list[float]) -> None:
    assert analyse(text.encode()).x.tolist() == x
    assert per_line(text)["x"] == x
    assert_same_toolpath(text.encode())
