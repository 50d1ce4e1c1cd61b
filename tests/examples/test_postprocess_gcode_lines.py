"""PostProcess gcode_lines.py: a job's lines read into numpy arrays and written back as `Line` writes them.

The byte-for-byte comparison with the line-by-line transform is in test_postprocess_scale.py; these
check the module's own promise: every word read as `Line` reads it, and a rewritten plain move is
the text `Line.with_words` makes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from scriptdeck.document.gcode import GcodeDocument

# Plain moves (with a comment, a CRLF ending, a last line without an ending) among what is not one:
# other spellings, bare coordinates, G92, G28, a second dot, ".5", a letter twice, M codes, comments.
JOB = (
    "G21\nG90\nG1 X10.000 Y-2.5 E0.04210 ;  wall  \nG01 X3 Y4\nX5 Y6\nG92 E0\nG28 X\n;LAYER:1\nM104 S200\n"
    "G1 X1.2.3 Y.5\nG1 X1 X2\nG0 F6000 X-0.000001 Y0.50\r\nG1 X1234567.25 Y99999.999996\nG3 X1 Y2 R5"
)
PLAIN = [2, 11, 12, 13]  # the lines above that are plain moves


@pytest.fixture(scope="module")
def lines(postprocess: Callable[[str], ModuleType]) -> ModuleType:
    return postprocess("gcode_lines")


@pytest.mark.parametrize("chunk", [None, 7])
def test_every_word_is_read_as_line_reads_it(lines: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                             chunk: int | None) -> None:
    if chunk is not None:  # a chunk or two per line: lines on the borders
        monkeypatch.setattr(lines, "CHUNK", chunk)
    doc = GcodeDocument.from_text(JOB)
    program = lines.read_program(doc)
    assert np.flatnonzero(program.plain).tolist() == PLAIN
    assert (len(program.chunks) > 10) == (chunk is not None)
    kinds = {"G92": lines.G92, "G28": lines.G28}
    for index, line in doc.lines():
        move = line.command in ("G0", "G1", "G2", "G3") or (line.command is None and bool(line.words))
        assert program.kind[index] == (lines.MOVE if move else kinds.get(line.command, lines.OTHER)), line.raw
        if program.kind[index] == lines.OTHER:
            continue
        for row, letter in enumerate(lines.LETTERS):
            if letter != "F":
                value = line.words.get(letter)
                read = float(program.row(row)[index])
                assert (math.isnan(read) and value is None) or read == value, (line.raw, letter)


def test_rewritten_plain_moves_are_written_as_line_writes_them(lines: ModuleType) -> None:
    doc = GcodeDocument.from_text(JOB)
    program = lines.read_program(doc)
    (lo, hi, words), = program.chunks
    edited = program.plain[lo:hi].copy()
    text = lines.write_lines(program, lo, hi, edited, words, {}, False)
    expected = "".join((line.with_words() if index in PLAIN else line).raw + line.ending for index, line in doc.lines())
    assert text == expected.encode()
    assert b"\nG0 F6000 X0 Y0.5\r\nG1 X1234567.25 Y100000\nG3 X1 Y2 R5" in text  # rounded as format_number does
    # A mirror swaps G2 and G3; a line Line made (`others`, edited too) is put in as given.
    edited[3] = True
    mirrored = lines.write_lines(program, lo, hi, edited, words, {3: b"G1 X6 Y8 ; made\n"}, True)
    assert mirrored == text.replace(b"G01 X3 Y4\n", b"G1 X6 Y8 ; made\n").replace(b"G3 X1", b"G2 X1")
