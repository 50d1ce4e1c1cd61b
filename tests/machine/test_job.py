"""Reading a G-code file for a print job, and what a printed file puts on the wire."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from scriptdeck.errors import UserError
from scriptdeck.machine.job import read_gcode

# Slicer/CAM output with a BOM, CRLF endings, its own line numbers and checksums, and a lone "\r".
CAM = b"\xef\xbb\xbfG28\r\nN5 G1 X3 ; first move\r\nG1 Y2*99\r\nN7 G1 Z1*12\rM110 N0\r\n\r\n"


def test_read_gcode_drops_the_bom_line_numbers_and_checksums(tmp_path: Path) -> None:
    path = tmp_path / "cam.gcode"
    path.write_bytes(CAM)
    assert read_gcode(path) == ["G28", "G1 X3", "G1 Y2", "G1 Z1", "M110 N0"]


def test_read_gcode_keeps_windows_1252_comments_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.gcode"
    path.write_bytes(b"; 200\xb0C\nM104 S200 ; \xb0\nG1 X1\x1a")
    assert read_gcode(path) == ["M104 S200", "G1 X1\x1a"]


def test_read_gcode_refuses_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.gcode"
    path.write_bytes(random.Random(5).randbytes(5000))
    with pytest.raises(UserError, match=r"binary\.gcode: byte offset \d+ \(line \d+\) is 0x[0-9a-f]{2}, a control byte"):
        read_gcode(path)


def test_a_printed_file_reaches_the_firmware_framed_once(machine_factory, tmp_path: Path) -> None:
    path = tmp_path / "cam.gcode"
    path.write_bytes(CAM)
    m = machine_factory("virtual://")
    out: list[str] = []
    m.add_line_listener(lambda direction, text: out.append(text) if direction == "out" else None)
    assert m.print_file(str(path)).result(10).acked == 5
    framed = [re.fullmatch(r"N\d+ (.*)\*\d+", line) for line in out]
    commands = [f.group(1) if f else line for f, line in zip(framed, out, strict=True)]
    job = commands[commands.index("G1 X3") - 1 :][:5]  # connecting sent lines before, releasing after
    assert job == ["G28", "G1 X3", "G1 Y2", "G1 Z1", "M110 N0"]


def test_a_binary_file_sends_nothing(machine_factory, tmp_path: Path) -> None:
    path = tmp_path / "binary.gcode"
    path.write_bytes(b"G28\nG1 X1\n\x00\x00\x00\x00")
    m = machine_factory("virtual://")
    out: list[str] = []
    m.add_line_listener(lambda direction, text: out.append(text) if direction == "out" else None)
    with pytest.raises(UserError, match=r"binary\.gcode: byte offset 10 \(line 3\) is 0x00"):
        m.print_file(str(path))
    assert out == [] and m.owner is None
