"""The scanner's reading of words (letter, spaces, value) and of modes (the line's command only), against Line."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptdeck.document import Line
from scriptdeck.document import scan as scan_module
from scriptdeck.document.lines import STRING_ARGUMENT_COMMANDS
from scriptdeck.document.scan import AXES, scan

_MODAL = ("G20", "G21", "G90", "G91", "M82", "M83")


@contextmanager
def chunk_size(size: int) -> Iterator[None]:
    """Small chunks put chunk edges everywhere: at line starts, inside runs of spaces' lines."""
    old = scan_module._CHUNK
    scan_module._CHUNK = size
    try:
        yield
    finally:
        scan_module._CHUNK = old


def words(text: str, line: int = 0) -> dict[str, float]:
    found = scan(text.encode())
    return {axis: float(found.values[axis][line]) for axis in AXES if not math.isnan(found.values[axis][line])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("G1 X 10", {"X": 10}),
        ("G1 X  10 Y   -5.5 Z +0.2 E .5 F 600", {"X": 10, "Y": -5.5, "Z": 0.2, "E": 0.5, "F": 600}),
        ("G1 X" + " " * 30 + "7", {"X": 7}),  # more spaces than the few steps walk: found directly
        ("G1 X5 6", {"X": 5}),  # "6" follows a value, not a letter
        ("G28 X Y 5", {"Y": 5}),  # a bare X, then Y 5
        ("G1 X 1 ; Y 2", {"X": 1}),  # after ";": a comment
        ("G1 X 1 (Y 2) Z 3", {"X": 1, "Z": 3}),
        ("M117 Layer 5", {}),  # "r 5": r is no word letter
        ("G1 X\t5", {}),  # Marlin skips spaces only
        ("X 3", {"X": 3}),
    ],
)
def test_a_letter_may_stand_spaces_before_its_value(text: str, expected: dict[str, float]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("text", "command"),
    [("G 91", ("G", 91)), ("G  1 X5", ("G", 1)), ("M 117 G91", ("M", 117)), ("t 1", ("T", 1)), ("N3 G 28", ("G", 28)),
     ("  G\t1", (None, None)), (" 5", (None, None))],
)
def test_a_command_may_stand_spaces_before_its_number(text: str, command: tuple[str | None, float | None]) -> None:
    found = scan(text.encode())
    letter, number = command
    assert found.letter[0] == (ord(letter) if letter else 0)
    assert found.number[0] == number or (number is None and math.isnan(found.number[0]))


@pytest.mark.parametrize(
    ("text", "modal"),
    [
        ("G91 G90\nM83 M82\nG21 G20\n", [(0, "G91"), (1, "M83"), (2, "G21")]),  # the first word, not the last
        ("G90 G91\nM82 M83\n", [(0, "G90"), (1, "M82")]),
        ("G1 X5 G91\nT0 M83\nM117 G91\nM118 M83\nG92 E0 G90\n", []),  # later words are parameters
        ("G 91\nm  83\ng 20\n", [(0, "G91"), (1, "M83"), (2, "G20")]),
        ("; G91\n(G90) G21\nN5 M82 *4\n", [(1, "G21"), (2, "M82")]),
        ("G91.1\nG090\nM82.0\n", [(1, "G90"), (2, "M82")]),
    ],
)
def test_modes_come_from_the_line_command_only(text: str, modal: list[tuple[int, str]]) -> None:
    assert scan(text.encode()).modal == modal


def test_modes_stay_in_line_order_across_chunks() -> None:
    text = "".join(f"{name} {name}\n" for name in _MODAL * 20)
    with chunk_size(16):
        assert scan(text.encode()).modal == [(i, name) for i, name in enumerate(_MODAL * 20)]


def test_spaces_at_a_chunk_start_find_no_letter() -> None:
    # Each line is its own chunk: the walk back over spaces stops at the chunk's edge, long run or short.
    text = "G1 X1\n   5\n" + " " * 40 + "5\nY 2\n"
    with chunk_size(4):
        found = scan(text.encode())
    assert found.values["Y"].tolist()[3] == 2
    assert np.isnan(found.values["X"][1:]).all() and found.letter.tolist() == [ord("G"), 0, 0, 0]


# -- against the per-line parser ------------------------------------------------------------------

_spaces = st.sampled_from(["", "", " ", "  ", " " * 9])
_value = st.one_of(st.integers(-999, 999).map(str), st.floats(-500, 500).map(lambda f: f"{f:.3f}"))
_command = st.tuples(st.sampled_from(["G", "M", "T", "g"]), _spaces, st.sampled_from(
    ["0", "1", "20", "21", "90", "91", "82", "83", "92", "28", "104", "01"]))
_word = st.tuples(st.sampled_from("XYZEFSP"), _spaces, _value).map("".join)
_parameter = st.tuples(st.sampled_from("XYZEFSPGM"), _spaces, _value).map("".join)  # G, M: after a command
_line = st.tuples(
    st.one_of(st.lists(_word, max_size=4), st.tuples(_command.map("".join), st.lists(_parameter, max_size=5))
              .map(lambda c: [c[0], *c[1]])),
    st.sampled_from(["", " ; X 9 G91"]),
).map(lambda p: " ".join(p[0]) + p[1])


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=30), st.sampled_from([1 << 18, 32, 5]))
def test_scan_reads_lines_like_line(lines: list[str], chunk: int) -> None:
    with chunk_size(chunk):
        found = scan("".join(f"{line}\n" for line in lines).encode())
    modal = []
    for i, raw in enumerate(lines):
        line = Line(raw)
        command = line.command
        assert found.letter[i] == (ord(command[0]) if command else 0), raw
        assert found.number[i] == float(command[1:]) if command else math.isnan(found.number[i]), raw
        if command in _MODAL:
            modal.append((i, command))
        if command in STRING_ARGUMENT_COMMANDS:
            continue  # the scanner reads words in the text of M28 and the like too: the toolpath ignores them
        for axis in AXES:
            value = line.words.get(axis)
            assert found.values[axis][i] == value if value is not None else math.isnan(found.values[axis][i]), raw
    assert found.modal == modal
