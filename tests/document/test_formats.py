"""The format registry (choice by slug and extension) and opening/saving through it.

Choice rules are tested on plain `Service` values; opening and saving through plugin formats
run real workers through a `Host` over plugin folders written into tmp_path.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.document.formats import (
    GCODE,
    Format,
    FormatRegistry,
    atomic_write,
    open_document,
    save_document,
    window_chooser,
)
from scriptdeck.document.gcode import GcodeDocument
from scriptdeck.errors import FormatChoiceError, RunError, SettingsError, UserError
from scriptdeck.host import Host
from scriptdeck.plugins.model import ScriptRef, Service, ServiceKind
from scriptdeck.runtime.ui import RecordingWindow

REF = ScriptRef("m", "f")


def fmt_service(plugin: str, slug: str, extensions: tuple[str, ...], *, open_: bool = True,
                save: bool = True, label: str = "") -> Service:
    return Service(f"{plugin}/{slug}", ServiceKind.FORMAT, plugin, label or slug.upper(), extensions=extensions,
                   slug=slug, open=REF if open_ else None, save=REF if save else None)


@pytest.fixture
def formats() -> FormatRegistry:
    return FormatRegistry.from_services([
        fmt_service("SvgImport", "svg", ("svg",), save=False),
        fmt_service("CsvPoints", "csv", ("csv", "txt")),
        fmt_service("OtherCsv", "points", (".CSV",)),
        fmt_service("Archive", "targz", ("tar.gz",)),
        fmt_service("Gz", "gz", ("gz",)),
    ])


# -- choosing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["part.gcode", "PART.GCODE", "a.b.gco", "x.g", "mill.nc"])
def test_builtin_gcode_by_extension(formats: FormatRegistry, name: str) -> None:
    assert formats.choose(name, "open") is GCODE
    assert formats.choose(name, "save") is GCODE


def test_choice_by_extension_slug_and_service_id(formats: FormatRegistry) -> None:
    assert formats.choose("logo.svg", "open").id == "SvgImport/svg"
    assert formats.choose("anything.bin", "open", "svg").id == "SvgImport/svg"
    assert formats.choose("points.csv", "save", "OtherCsv/points").id == "OtherCsv/points"
    assert formats.choose("points.csv", "save", "CSV").id == "CsvPoints/csv"  # slugs are case-insensitive
    assert formats.choose("data.tar.gz", "open").slug == "targz"  # the longest claimed extension first
    assert formats.choose("data.gz", "open").slug == "gz"


def test_unknown_extension_names_the_file_the_extension_and_the_known_ones(formats: FormatRegistry) -> None:
    with pytest.raises(FormatChoiceError, match=r"^drawing\.dxf: no format opens '\.dxf' files \(known extensions: "
                       r"csv, g, gco, gcode, gz, nc, svg, tar\.gz, txt\); choose one with --from SLUG$"):
        formats.choose("drawing.dxf", "open", option="--from")
    with pytest.raises(FormatChoiceError, match=r"README: the file name has no extension"):
        formats.choose("README", "save")


def test_ambiguous_extension_lists_the_slugs_or_asks(formats: FormatRegistry) -> None:
    with pytest.raises(FormatChoiceError, match=r"^p\.csv: several formats open '\.csv' files: "
                       r"csv \(CsvPoints/csv\), points \(OtherCsv/points\); choose one with --from SLUG$"):
        formats.choose("p.csv", "open", option="--from")
    asked: list[tuple[str, list[str]]] = []

    def chooser(message: str, options: list[Format]) -> int:
        asked.append((message, [f.id for f in options]))
        return 1

    assert formats.choose("p.csv", "open", chooser=chooser).id == "OtherCsv/points"
    assert asked == [("Several formats can open p.csv (.csv); which one?", ["CsvPoints/csv", "OtherCsv/points"])]
    with pytest.raises(FormatChoiceError, match="no format chosen"):
        formats.choose("p.csv", "open", chooser=lambda message, options: -1)


def test_window_chooser_asks_choose_option(formats: FormatRegistry) -> None:
    window = RecordingWindow(answers=[1])
    assert formats.choose("p.csv", "save", chooser=window_chooser(window)).id == "OtherCsv/points"
    (prompt,) = window.prompts
    assert prompt.kind == "choose_option" and prompt.options == ("CSV — csv (CsvPoints/csv)",
                                                                 "POINTS — points (OtherCsv/points)")


def test_direction_matters(formats: FormatRegistry) -> None:
    with pytest.raises(FormatChoiceError, match=r"format svg \(SvgImport/svg\) reads \.svg files but cannot save"):
        formats.choose("out.svg", "save")
    with pytest.raises(FormatChoiceError, match=r"format svg \(SvgImport/svg\) cannot save files"):
        formats.choose("out.gcode", "save", "svg")
    with pytest.raises(FormatChoiceError, match=r"no format 'dxf' \(known: csv, gcode, gz, points, svg, targz\)"):
        formats.choose("out.gcode", "save", "dxf")


def test_two_formats_with_one_slug_need_the_service_id() -> None:
    formats = FormatRegistry.from_services([fmt_service("A", "svg", ("svg",)), fmt_service("B", "svg", ("svgz",))])
    with pytest.raises(FormatChoiceError, match=r"several formats have the slug 'svg': A/svg, B/svg"):
        formats.choose("x.svg", "open", "svg")
    assert formats.choose("x.svg", "open", "B/svg").id == "B/svg"


def test_slug_defaults_to_the_first_extension() -> None:
    service = Service("P/x", ServiceKind.FORMAT, "P", "X", extensions=("DXF", "dxf2"), open=REF)
    assert Format.from_service(service).slug == "dxf"


# -- the built-in format -------------------------------------------------------------------------

ODD = b"; header\r\nG1 X1 \r\n\r\n;LAYER:0\nG1 Z0.2 (no final newline)"


def test_builtin_open_and_save_are_byte_exact(tmp_path: Path) -> None:
    source, target = tmp_path / "in.gcode", tmp_path / "out.nc"
    source.write_bytes(ODD)
    opened = open_document(None, source, GCODE)
    assert opened.ok and opened.document is not None and opened.document.to_bytes() == ODD
    saved = save_document(None, opened.document, target, GCODE)
    assert saved.ok and target.read_bytes() == ODD
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_builtin_rejects_settings_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="format gcode has no settings, got: feed"):
        save_document(None, GcodeDocument(), tmp_path / "x.gcode", GCODE, settings={"feed": 1})
    with pytest.raises(UserError, match=r"missing\.gcode: cannot open: No such file"):
        open_document(None, tmp_path / "missing.gcode", GCODE)
    with pytest.raises(UserError, match=r"the folder .*nowhere does not exist"):
        save_document(None, GcodeDocument(), tmp_path / "nowhere" / "x.gcode", GCODE)


def test_builtin_open_drops_a_bom_and_refuses_binary_files(tmp_path: Path) -> None:
    bom, binary = tmp_path / "bom.gcode", tmp_path / "binary.gcode"
    bom.write_bytes(b"\xef\xbb\xbf" + ODD)
    binary.write_bytes(b"\x00" * 16)
    opened = open_document(None, bom, GCODE)
    assert opened.document is not None and opened.document.to_bytes() == ODD
    with pytest.raises(UserError, match=r"binary\.gcode: byte offset 0 \(line 1\) is 0x00, a control byte"):
        open_document(None, binary, GCODE)


def test_a_save_failing_halfway_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "job.gcode"
    target.write_bytes(b"G28\n")
    target.chmod(0o640)

    def half(out: Any) -> None:
        out.write(b"G1 X1\n")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half)
    assert target.read_bytes() == b"G28\n" and os.listdir(tmp_path) == ["job.gcode"]
    atomic_write(target, lambda out: out.write(b"M84\n"))
    assert target.read_bytes() == b"M84\n" and stat.S_IMODE(target.stat().st_mode) == 0o640


def test_builtin_save_that_cannot_rename_is_a_run_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "job.gcode"
    target.write_bytes(b"old\n")

    def refuse(src: str, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(RunError, match=r"job\.gcode: cannot save: Permission denied"):
        save_document(None, GcodeDocument.from_text("new\n"), target, GCODE)
    assert target.read_bytes() == b"old\n" and os.listdir(tmp_path) == ["job.gcode"]


# -- plugin formats through the host ------------------------------------------------------------

FORMAT_MODULE = """
    def read(window, document, file, filename, import_export, settings):
        text = file.read().decode()
        if "RAISE" in text:
            raise RuntimeError("cannot read this")
        if "BAD" in text:
            import_export.warning("odd line")
            import_export.error("first problem")
            import_export.error("second problem")
            return
        import_export.progress_max_changed(2)
        import_export.progress(1)
        import_export.progress(2)
        document.append(["; from " + filename.rsplit("/", 1)[-1]] + ["G1 X" + v for v in text.split()])

    def write(window, document, file, filename, import_export, settings):
        file.write(b"partial ")
        if settings["fail"] == "raise":
            raise OSError("disk full")
        if settings["fail"] == "error":
            import_export.error("cannot write this document")
        for line in document:
            if line.command == "G1":
                file.write(str(line.get("X")).encode() + settings["sep"].encode())
"""


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    folder = tmp_path / "plugins" / "Nums"
    folder.mkdir(parents=True)
    settings = [{"name": "fail", "type": "choice", "choices": ["no", "raise", "error"], "default": "no"},
                {"name": "sep", "type": "string", "default": " "}]
    (folder / "plugin.json").write_text(json.dumps({"engine": "python", "services": [{
        "type": "format", "name": "Numbers", "extensions": ["num"],
        "open": {"module": "nums", "function": "read"},
        "save": {"module": "nums", "function": "write", "settings": settings}}]}))
    (folder / "nums.py").write_text(textwrap.dedent(FORMAT_MODULE))
    with Host(tmp_path / "data", [tmp_path / "plugins"], include_examples=False, warm=False) as h:
        yield h


def test_plugin_open_fills_a_document_and_reports_progress(host: Host, tmp_path: Path) -> None:
    (tmp_path / "a.num").write_text("1 2.5")
    formats = FormatRegistry.from_services(host.registry.formats())
    seen: list[tuple[int, int | None]] = []
    opened = open_document(host, tmp_path / "a.num", formats.choose("a.num", "open"),
                           progress=lambda value, maximum: seen.append((value, maximum)))
    opened.raise_for_outcome()
    assert opened.document is not None and opened.document.text == "; from a.num\nG1 X1\nG1 X2.5\n"
    assert not opened.document.changed and seen[-1] == (2, 2)


def test_plugin_open_errors_fail_with_every_message(host: Host, tmp_path: Path) -> None:
    (tmp_path / "bad.num").write_text("BAD")
    window = RecordingWindow()
    opened = open_document(host, tmp_path / "bad.num", FormatRegistry.from_services(host.registry.formats())
                           .choose("bad.num", "open"), window=window)
    assert not opened.ok and opened.document is None
    assert opened.errors == ["first problem", "second problem"]
    assert [(m.level, m.message) for m in window.messages] == [
        ("warning", "odd line"), ("error", "first problem"), ("error", "second problem")]
    with pytest.raises(RunError, match=r"bad\.num: num open failed: first problem; second problem"):
        opened.raise_for_outcome()


def test_plugin_open_raising_is_a_plugin_error(host: Host, tmp_path: Path) -> None:
    (tmp_path / "r.num").write_text("RAISE")
    opened = open_document(host, tmp_path / "r.num", FormatRegistry.from_services(host.registry.formats())
                           .choose("r.num", "open"))
    assert opened.result is not None and opened.result.outcome == "error"
    with pytest.raises(RunError, match="RuntimeError: cannot read this"):
        opened.raise_for_outcome()


@pytest.mark.parametrize("fail", ["raise", "error"])
def test_plugin_save_failing_halfway_leaves_the_old_file_intact(host: Host, tmp_path: Path, fail: str) -> None:
    target = tmp_path / "out.num"
    target.write_bytes(b"old contents")
    fmt = FormatRegistry.from_services(host.registry.formats()).choose("out.num", "save")
    saved = save_document(host, GcodeDocument.from_text("G1 X1\n"), target, fmt, settings={"fail": fail})
    assert not saved.ok
    assert target.read_bytes() == b"old contents"
    assert sorted(os.listdir(tmp_path)) == ["data", "out.num", "plugins"]  # the temp file is gone too
    saved = save_document(host, GcodeDocument.from_text("G1 X1\nG1 X2\n"), target, fmt, settings={"sep": ","},
                          use_last_used=False)
    saved.raise_for_outcome()
    assert target.read_bytes() == b"partial 1.0,2.0,"
