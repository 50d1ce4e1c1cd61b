"""`scriptdeck convert` end to end: real plugin formats in worker processes, through the Host.

The shipped SvgImport and CsvPoints plugins are used as they ship; odd formats (one that
raises, one that reports errors, one whose save fails halfway, one that claims `.csv` too)
are written into tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from scriptdeck.cli import main

SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="50mm" height="20mm" viewBox="0 0 50 20">
  <rect x="5" y="5" width="10" height="10"/><path d="M20 10 C 25 0 35 20 40 10"/><text>hi</text>
</svg>"""

ODD_FORMAT = """
    def read(window, document, file, filename, import_export, settings):
        text = file.read().decode()
        if text.startswith("RAISE"):
            raise ValueError("unreadable header")
        if text.startswith("ERRORS"):
            import_export.warning("line 1 looks odd")
            import_export.error("line 2: bad value")
            import_export.error("line 3: bad value")
            return
        document.append(text.splitlines())

    def write(window, document, file, filename, import_export, settings):
        if settings["mode"] == "empty":
            return  # an author's slip: nothing written
        file.write(b"half of it")
        if settings["mode"] == "raise":
            raise OSError("disk full")
        if settings["mode"] == "error":
            import_export.error("cannot express arcs")
            return
        file.write(b"\\n" + document.text.encode())
"""


def odd_plugin(root: Path, plugin_id: str = "Odd", extensions: tuple[str, ...] = ("odd",), slug: str = "odd") -> None:
    folder = root / plugin_id
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"engine": "python", "services": [{
        "type": "format", "name": "Odd", "extensions": list(extensions), "slug": slug,
        "open": {"module": "odd", "function": "read"},
        "save": {"module": "odd", "function": "write", "settings": [
            {"name": "mode", "type": "choice", "choices": ["ok", "raise", "error", "empty"], "default": "ok"}]}}]}))
    (folder / "odd.py").write_text(textwrap.dedent(ODD_FORMAT))


@pytest.fixture
def env(tmp_path: Path) -> list[str]:
    (tmp_path / "plugins").mkdir()
    return ["--data-dir", str(tmp_path / "data"), "--plugin-path", str(tmp_path / "plugins")]


def convert(env: list[str], *args: str) -> int:
    return main([*env, "convert", *args])


def test_svg_to_gcode_to_csv_and_back(env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logo.svg").write_bytes(SVG)
    assert convert(env, str(tmp_path / "logo.svg"), str(tmp_path / "logo.gcode"), "--set", "feed_rate=900") == 0
    err = capsys.readouterr().err
    assert "warning: logo.svg: text is not drawn" in err
    assert "converted" in err and "(svg)" in err and "(gcode)" in err
    gcode = (tmp_path / "logo.gcode").read_text()
    assert "G0 X5 Y15 F3000" in gcode and "G1 X15 Y15 F900" in gcode

    assert convert(env, str(tmp_path / "logo.gcode"), str(tmp_path / "logo.csv"), "--set", "save.include_z=false") == 0
    rows = (tmp_path / "logo.csv").read_text().split("\n\n")
    assert rows[0] == "x,y\n5,15\n15,15\n15,5\n5,5\n5,15" and len(rows) == 2
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "logo.csv").stat().st_mode & 0o777 == 0o666 & ~mask  # a plugin's save, not 0600

    assert convert(env, str(tmp_path / "logo.csv"), str(tmp_path / "back.nc"), "--set", "open.feed_rate=700") == 0
    back = (tmp_path / "back.nc").read_text()
    assert "G0 X5 Y15 F3000\nG1 X15 Y15 F700\n" in back


def test_gcode_to_gcode_is_a_byte_exact_copy(env: list[str], tmp_path: Path) -> None:
    data = b";FLAVOR:Marlin\r\nG28\r\nG1 X1 \r\n;no final newline"
    (tmp_path / "a.gcode").write_bytes(data)
    assert convert(env, str(tmp_path / "a.gcode"), str(tmp_path / "b.g")) == 0
    assert (tmp_path / "b.g").read_bytes() == data


def test_last_used_settings_are_remembered_per_direction(env: list[str], tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_bytes(SVG)
    out = tmp_path / "o.gcode"
    assert convert(env, str(tmp_path / "logo.svg"), str(out), "--set", "feed_rate=900") == 0
    assert convert(env, str(tmp_path / "logo.svg"), str(out)) == 0
    assert "F900" in out.read_text()
    assert convert(env, str(tmp_path / "logo.svg"), str(out), "--defaults") == 0
    assert "F900" not in out.read_text() and "F1500" in out.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["in.svg", "out.dxf"], r"out\.dxf: no format saves '\.dxf' files \(known extensions: csv, g, gco, gcode, nc, "
                            r"odd\); choose one with --to SLUG"),
    (["in.svg", "out.gcode", "--set", "bogus=1"], r"--set bogus: no format declares it \(svg \(SvgImport/svg\) open "
                                                  r"settings: feed_rate, .*; gcode save settings: none\)"),
    (["in.svg", "out.gcode", "--set", "save.mode=ok"], r"format gcode has no save setting 'mode'"),
    (["in.svg", "out.gcode", "--set", "scale=big"], r"--set scale: expected a number, got \"big\""),
    (["in.svg", "out.gcode", "--set", "scale"], r"expected NAME=VALUE"),
    (["in.svg", "out.gcode", "--from", "nope"], r"no format 'nope' \(known: csv, gcode, odd, svg\)"),
    (["in.svg", "out.svg"], r"format svg \(SvgImport/svg\) reads \.svg files but cannot save them"),
    (["missing.svg", "out.gcode"], r"missing\.svg: no such file"),
])
def test_bad_input_exits_2_and_writes_nothing(env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              args: list[str], message: str) -> None:
    odd_plugin(tmp_path / "plugins")
    (tmp_path / "in.svg").write_bytes(SVG)
    args = [str(tmp_path / a) if a.endswith((".svg", ".gcode", ".dxf")) else a for a in args]
    assert convert(env, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "out.gcode").exists()


def test_an_extension_claimed_twice_needs_from(env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd_plugin(tmp_path / "plugins", "OddCsv", ("csv",), "oddcsv")
    (tmp_path / "p.csv").write_text("G1 X1\n")
    assert convert(env, str(tmp_path / "p.csv"), str(tmp_path / "p.gcode")) == 2
    assert ("several formats open '.csv' files: oddcsv (OddCsv/oddcsv), csv (CsvPoints/csv); "
            "choose one with --from SLUG") in capsys.readouterr().err
    assert convert(env, str(tmp_path / "p.csv"), str(tmp_path / "p.gcode"), "--from", "oddcsv") == 0
    assert (tmp_path / "p.gcode").read_text() == "G1 X1\n"
    assert convert(env, str(tmp_path / "p.gcode"), str(tmp_path / "q.csv"), "--to", "OddCsv/oddcsv") == 0
    assert (tmp_path / "q.csv").read_text() == "half of it\nG1 X1\n"


def test_import_export_errors_fail_with_every_message(env: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    odd_plugin(tmp_path / "plugins")
    (tmp_path / "in.odd").write_text("ERRORS\n")
    (tmp_path / "out.gcode").write_text("previous job\n")
    assert convert(env, str(tmp_path / "in.odd"), str(tmp_path / "out.gcode")) == 1
    err = capsys.readouterr().err
    assert "warning: line 1 looks odd\nerror: line 2: bad value\nerror: line 3: bad value\n" in err
    assert "odd open failed: line 2: bad value; line 3: bad value" in err
    assert (tmp_path / "out.gcode").read_text() == "previous job\n"


def test_a_format_raising_fails_the_conversion(env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd_plugin(tmp_path / "plugins")
    (tmp_path / "in.odd").write_text("RAISE\n")
    assert convert(env, str(tmp_path / "in.odd"), str(tmp_path / "out.gcode")) == 1
    err = capsys.readouterr().err
    assert "ValueError: unreadable header" in err
    assert "Traceback" in err and "history show" in err, err  # where to look, for the plugin's author
    assert not (tmp_path / "out.gcode").exists()


@pytest.mark.parametrize(("mode", "message"), [("raise", "OSError: disk full"), ("error", "cannot express arcs")])
def test_a_save_failing_halfway_keeps_the_old_file(env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   mode: str, message: str) -> None:
    odd_plugin(tmp_path / "plugins")
    (tmp_path / "in.gcode").write_text("G1 X1\n")
    (tmp_path / "out.odd").write_bytes(b"the old file")
    assert convert(env, str(tmp_path / "in.gcode"), str(tmp_path / "out.odd"), "--set", f"mode={mode}") == 1
    assert message in capsys.readouterr().err
    assert (tmp_path / "out.odd").read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "in.gcode", "out.odd", "plugins"]


def test_list_shows_every_format(env: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert convert(env, "--list") == 0
    out = capsys.readouterr().out
    for text in ("gcode", "SvgImport/svg", "CsvPoints/csv", "gco, g, nc"):
        assert text in out
    assert convert(env) == 2


def test_a_save_that_writes_nothing_is_warned_about(env: list[str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    odd_plugin(tmp_path / "plugins")
    (tmp_path / "in.gcode").write_text("G1 X1\n")
    assert convert(env, str(tmp_path / "in.gcode"), str(tmp_path / "out.odd"), "--set", "mode=empty") == 0
    assert "the format wrote nothing; the file is empty" in capsys.readouterr().err
