"""Reading G-code files: binary files refused with the byte that gave them away, a UTF-8 BOM dropped."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scriptdeck.document.textfile import gcode_bytes, read_gcode_bytes
from scriptdeck.errors import UserError


def test_a_leading_bom_is_dropped_and_nothing_else() -> None:
    assert gcode_bytes(b"\xef\xbb\xbfG28\r\n", "a.gcode") == b"G28\r\n"
    assert gcode_bytes(b"G28\n\xef\xbb\xbf", "a.gcode") == b"G28\n\xef\xbb\xbf"
    text = b"; 200\xb0C\tWindows-1252\x0c\x1b[0m\r\nG28\x1a"  # not UTF-8, but text
    assert gcode_bytes(text, "a.gcode") is text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"G28\nG1 X1\x00", r"b\.gcode: byte offset 9 \(line 2\) is 0x00, a control byte: a G-code file is text"),
        (b"\x7fELF\x02\x01", r"b\.gcode: byte offset 4 \(line 1\) is 0x02"),
        (b"\xef\xbb\xbf\x1f\x8b", r"b\.gcode: byte offset 3 \(line 1\) is 0x1f"),  # offsets count the BOM
        (b"\xff\xfeG\x002\x008\x00", r"b\.gcode: bytes 0-1 are ff fe, a UTF-16 byte order mark"),
    ],
)
def test_binary_data_is_refused_naming_the_byte(data: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message):
        gcode_bytes(data, "b.gcode")


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.gcode"
    path.write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(UserError, match=r"binary\.gcode: byte offset \d+ .*refused: this looks like a binary file"):
        read_gcode_bytes(path)
