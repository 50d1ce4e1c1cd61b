"""The shipped format and action plugins (SvgImport, CsvPoints, PostProcess), called directly.

PostProcess's pause and scale actions have files of their own (test_postprocess_pause.py,
test_postprocess_scale.py); the end-to-end runs of all three of its actions are here.

Each plugin function is imported from its folder and called with a real GcodeDocument and
small fakes for `window`, `file` and `import_export`, exactly as the worker calls it. The
end-to-end runs through the host are in tests/cli/test_convert.py.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scriptdeck.document.gcode import GcodeDocument
from scriptdeck.host import Host
from scriptdeck.plugins.manifest import load_manifest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


def plugin_module(folder: str, module: str) -> ModuleType:
    path = EXAMPLES / folder / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"_example_{folder}_{module}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


class FakeWindow:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def warning(self, message: str, title: str = "") -> None:
        self.messages.append(("warning", message))

    def information(self, message: str, title: str = "") -> None:
        self.messages.append(("information", message))

    def error(self, message: str, title: str = "") -> None:
        self.messages.append(("error", message))


class FakeImportExport:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.progress_max: int | None = None
        self.progress_values: list[int] = []

    def error(self, message: str) -> None:
        self.messages.append(("error", message))

    def warning(self, message: str) -> None:
        self.messages.append(("warning", message))

    def information(self, message: str) -> None:
        self.messages.append(("information", message))

    def progress_max_changed(self, n: int) -> None:
        self.progress_max = n

    def progress(self, n: int) -> None:
        self.progress_values.append(n)

    def levels(self, level: str) -> list[str]:
        return [m for lv, m in self.messages if lv == level]


@pytest.fixture(scope="module")
def svg() -> ModuleType:
    return plugin_module("SvgImport", "svg_import")


@pytest.fixture(scope="module")
def csvp() -> ModuleType:
    return plugin_module("CsvPoints", "csv_points")


def defaults(folder: str, service_index: int, direction: str | None = None) -> dict[str, Any]:
    plugin = load_manifest(EXAMPLES / folder, EXAMPLES)
    assert plugin.errors == [] and plugin.warnings == []
    return plugin.services[service_index].settings_for(direction).defaults()


def test_example_manifests_load_cleanly() -> None:
    ids = []
    for folder in ("SvgImport", "CsvPoints", "PostProcess"):
        plugin = load_manifest(EXAMPLES / folder, EXAMPLES)
        assert plugin.errors == [] and plugin.warnings == [], (folder, plugin.errors, plugin.warnings)
        assert (EXAMPLES / folder / "README.md").is_file()
        ids += [s.id for s in plugin.services]
    assert ids == [
        "SvgImport/svg", "CsvPoints/csv",
        "PostProcess/pause-at-height", "PostProcess/scale-and-translate", "PostProcess/search-and-replace",
    ]


# -- SvgImport -----------------------------------------------------------------------------------

SQUARE_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="50mm" viewBox="0 0 100 50">
  <g transform="translate(10,0)"><rect x="0" y="0" width="20" height="10"/></g>
</svg>"""

CIRCLE_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="40mm" height="40mm" viewBox="0 0 40 40">
  <circle cx="20" cy="20" r="10"/><text x="1" y="1">label</text>
</svg>"""


def moves(lines: list[str]) -> list[tuple[str, float, float]]:
    doc = GcodeDocument.from_text("\n".join(lines))
    return [(ln.command, ln.get("X"), ln.get("Y")) for ln in doc if ln.command in ("G0", "G1") and ln.get("X") is not None]


def test_svg_rectangle_is_transformed_and_y_flipped(svg: ModuleType) -> None:
    lines = svg.svg_to_gcode(SQUARE_SVG, defaults("SvgImport", 0, "open"))
    # translate(10,0) applied; the page is 50 mm high, so SVG y=0 is machine Y=50.
    assert moves(lines) == [
        ("G0", 10.0, 50.0), ("G1", 30.0, 50.0), ("G1", 30.0, 40.0), ("G1", 10.0, 40.0), ("G1", 10.0, 50.0),
    ]
    assert "G0 Z2" in lines and "G0 Z0" in lines  # the default pen up / pen down
    assert lines.index("G0 Z0") < next(i for i, ln in enumerate(lines) if ln.startswith("G1"))


def test_svg_scale_pen_commands_and_feed(svg: ModuleType) -> None:
    settings = {**defaults("SvgImport", 0, "open"), "scale": 2.0, "pen_up": "M5|G4 P100",
                "pen_down": "M3 S1000", "feed_rate": 600.0}
    lines = svg.svg_to_gcode(SQUARE_SVG, settings)
    assert moves(lines)[1] == ("G1", 60.0, 100.0)
    assert lines.count("M5") == 2 and lines.count("G4 P100") == 2 and lines.count("M3 S1000") == 1
    assert next(ln for ln in lines if ln.startswith("G1")).endswith("F600")


@pytest.mark.parametrize("tolerance", [0.5, 0.05, 0.005])
def test_svg_curves_stay_within_the_tolerance(svg: ModuleType, tolerance: float) -> None:
    settings = {**defaults("SvgImport", 0, "open"), "curve_tolerance": tolerance}
    warnings: list[str] = []
    points = [(x, y) for _, x, y in moves(svg.svg_to_gcode(CIRCLE_SVG, settings, warn=warnings.append))]
    assert all(abs(((x - 20) ** 2 + (y - 20) ** 2) ** 0.5 - 10) < 1e-3 for x, y in points)
    # every chord's midpoint is within the tolerance of the circle (3 decimals of rounding allowed)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        assert 10 - ((mx - 20) ** 2 + (my - 20) ** 2) ** 0.5 <= tolerance + 2e-3
    assert any("text is not drawn" in w for w in warnings)


def test_svg_open_fills_the_document_and_reports_progress(svg: ModuleType) -> None:
    doc, ie, window = GcodeDocument(), FakeImportExport(), FakeWindow()
    svg.open_svg(window, doc, io.BytesIO(SQUARE_SVG), "square.svg", ie, defaults("SvgImport", 0, "open"))
    assert ie.levels("error") == []
    assert doc.find("G1") and doc[0].raw.startswith("; square.svg")
    assert ie.progress_max == 1 and ie.progress_values[-1] == 1


@pytest.mark.parametrize(("data", "message"), [
    (b"<svg", "not a readable SVG"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', "no visible paths"),
])
def test_svg_errors_go_to_import_export(svg: ModuleType, data: bytes, message: str) -> None:
    doc, ie = GcodeDocument(), FakeImportExport()
    svg.open_svg(FakeWindow(), doc, io.BytesIO(data), "bad.svg", ie, defaults("SvgImport", 0, "open"))
    assert len(ie.levels("error")) == 1 and message in ie.levels("error")[0]
    assert len(doc) == 0


# -- CsvPoints -----------------------------------------------------------------------------------


def test_csv_open_header_runs_and_z(csvp: ModuleType) -> None:
    doc, ie = GcodeDocument(), FakeImportExport()
    data = b"X;Y;Z\n0;0;0.2\n10;0;0.2\n\n20;5;1\n"
    csvp.open_csv(FakeWindow(), doc, io.BytesIO(data), "p.csv", ie, defaults("CsvPoints", 0, "open"))
    assert ie.messages == []
    assert [ln.raw for ln in doc if ln.command in ("G0", "G1")] == [
        "G0 X0 Y0 Z0.2 F3000", "G1 X10 Y0 Z0.2 F1000", "G0 X20 Y5 Z1 F3000",
    ]


def test_csv_open_reports_every_bad_row_and_leaves_the_document_empty(csvp: ModuleType) -> None:
    doc, ie = GcodeDocument(), FakeImportExport()
    csvp.open_csv(FakeWindow(), doc, io.BytesIO(b"1,2\nx,2\n3\n4,5\n"), "p.csv", ie, defaults("CsvPoints", 0, "open"))
    assert ie.levels("error") == ["p.csv:2: not a number in 'x,2'", "p.csv:3: needs at least an x and a y value"]
    assert len(doc) == 0


def test_csv_round_trip_keeps_points_and_runs(csvp: ModuleType) -> None:
    text = "x,y,z\n0,0,0\n10,0,0\n10,10,0\n\n20,20,1.5\n30,30,1.5\n"
    doc = GcodeDocument()
    csvp.open_csv(FakeWindow(), doc, io.BytesIO(text.encode()), "p.csv", FakeImportExport(), defaults("CsvPoints", 0, "open"))
    out = io.BytesIO()
    csvp.save_csv(FakeWindow(), doc, out, "p.csv", FakeImportExport(), defaults("CsvPoints", 0, "save"))
    assert out.getvalue().decode() == text


def test_csv_save_of_a_print_uses_extruding_moves_relative_and_inches(csvp: ModuleType) -> None:
    doc = GcodeDocument.from_text(
        "G28\nG1 Z0.2 F600\nG0 X10 Y10\nG1 X20 E1\nG1 Y20 E2\nG1 X30 ; no E: a travel\nG91\nG1 X-5 E0.5\n"
        "G90\nG20\nG0 X1 Y1\nG1 X2 E3\n"
    )
    out = io.BytesIO()
    settings = {**defaults("CsvPoints", 0, "save"), "include_z": False, "header": False}
    csvp.save_csv(FakeWindow(), doc, out, "p.csv", FakeImportExport(), settings)
    assert out.getvalue().decode() == "10,10\n20,10\n20,20\n\n30,20\n25,20\n\n25.4,25.4\n50.8,25.4\n"


def test_csv_save_of_an_empty_document_warns(csvp: ModuleType) -> None:
    out, ie = io.BytesIO(), FakeImportExport()
    csvp.save_csv(FakeWindow(), GcodeDocument.from_text("; nothing\n"), out, "p.csv", ie, defaults("CsvPoints", 0, "save"))
    assert out.getvalue() == b"x,y,z\n" and "no moves" in ie.levels("warning")[0]


# -- PostProcess: search and replace -------------------------------------------------------------


@pytest.fixture(scope="module")
def search() -> ModuleType:
    return plugin_module("PostProcess", "search_replace")


def test_search_replace_regex_groups_and_line_endings_kept(search: ModuleType) -> None:
    doc = GcodeDocument.from_text("M104 S200\r\nG1 X1\r\nM104 S210 ; hot\r\n")
    window = FakeWindow()
    settings = {**defaults("PostProcess", 2), "find": r"^M104 S(\d+)", "replace": r"M104 S\1 T0"}
    search.search_replace(window, doc, settings)
    assert doc.text == "M104 S200 T0\r\nG1 X1\r\nM104 S210 T0 ; hot\r\n"
    assert window.messages == [("information", "2 replacements on 2 lines")]


def test_search_replace_newline_splits_a_line_and_plain_text_mode(search: ModuleType) -> None:
    doc = GcodeDocument.from_text("M104 S200\nM140 S60\nG1 X1 (a.b)\n")
    search.search_replace(FakeWindow(), doc, {**defaults("PostProcess", 2), "find": r"M104 (S\d+)",
                                              "replace": r"M104 \1\nM109 \1"})
    search.search_replace(FakeWindow(), doc, {**defaults("PostProcess", 2), "find": "(a.b)", "replace": r"(\1)",
                                              "regex": False})
    assert doc.text == "M104 S200\nM109 S200\nM140 S60\nG1 X1 (\\1)\n"


@pytest.mark.parametrize(("settings", "message"), [
    ({"find": "G1 (X"}, r"find 'G1 \(X' is not a valid regular expression: missing \), unterminated subpattern"),
    ({"find": "G1", "replace": r"\2"}, r"replace '\\\\2' is not a valid replacement \(line 1\): invalid group reference 2"),
    ({"find": ""}, "find is empty"),
])
def test_search_replace_errors_leave_the_document_alone(search: ModuleType, settings: dict[str, Any], message: str) -> None:
    doc = GcodeDocument.from_text("G1 X1\nG1 X2\n")
    with pytest.raises(ValueError, match=message):
        search.search_replace(FakeWindow(), doc, {**defaults("PostProcess", 2), **settings})
    assert doc.text == "G1 X1\nG1 X2\n" and not doc.changed


def test_search_replace_without_a_match_says_so(search: ModuleType) -> None:
    doc, window = GcodeDocument.from_text("G1 X1\n"), FakeWindow()
    search.search_replace(window, doc, {**defaults("PostProcess", 2), "find": "M600", "ignore_case": True})
    assert window.messages == [("information", "no line matches 'M600'")] and not doc.changed


# -- PostProcess: scale and translate, pause at height: tests/examples/test_postprocess_*.py -------

LAYERS = (
    ";FLAVOR:Marlin\nG28\n;LAYER:0\nG1 Z0.2 F600\nG1 X10 Y10 E1\n;LAYER:1\nG1 Z0.4\nG1 X20 E2\n"
    ";LAYER:2\nG1 Z0.6\nG1 X10 E3\n"
)


# -- end to end: the actions in worker processes, through the Host ------------------------------


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    with Host(tmp_path_factory.mktemp("data"), include_examples=True, warm=False) as h:
        yield h


def test_actions_edit_the_document_from_a_worker_as_one_undoable_step(host: Host) -> None:
    doc = GcodeDocument.from_text(LAYERS)
    result = host.run("PostProcess/pause-at-height", document=doc, settings={"z": 0.4, "command": "M600"},
                      use_last_used=False)
    assert result.ok, result.error
    assert "M600\n;LAYER:1" in doc.text
    assert [m["message"] for m in result.messages] == [
        "M600 inserted before layer 1 (Z=0.4 mm), line 6; M600 parks the head itself, so no park was added"]
    assert doc.undo_label == "Pause at height"
    doc.undo()
    assert doc.text == LAYERS

    # M0 with the default park: the plugin's own module import (gcode_state) works in a worker
    result = host.run("PostProcess/pause-at-height", document=doc, settings={"z": 0.4}, use_last_used=False)
    assert result.ok, result.error
    assert "G1 X10 Y200 F6000 ; park\nM0 Paused - press to resume\nG1 X10 Y10 F6000 ; back over the print" in doc.text
    doc.undo()

    result = host.run("PostProcess/scale-and-translate", document=doc, settings={"offset_x": 5, "offset_y": 5},
                      use_last_used=False)
    assert result.ok and "G1 X15 Y15 E1" in doc.text


@pytest.mark.parametrize(("service", "settings", "message"), [
    ("PostProcess/scale-and-translate", {"offset_x": 300}, "ValueError: Scale and translate: the result does not "
                                                           "fit the bed: X would span 310.00..320.00 mm"),
    ("PostProcess/search-and-replace", {"find": "[G"}, "is not a valid regular expression"),
    ("PostProcess/pause-at-height", {"z": 9}, "no layer at or above Z=9 mm"),
])
def test_a_failing_action_leaves_the_document_alone(host: Host, service: str, settings: dict[str, Any],
                                                     message: str) -> None:
    doc = GcodeDocument.from_text(LAYERS)
    result = host.run(service, document=doc, settings=settings, use_last_used=False)
    assert result.outcome == "error" and message in (result.error or "")
    assert doc.text == LAYERS and not doc.can_undo


def test_run_cli_search_and_replace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scriptdeck.cli import main

    (tmp_path / "in.gcode").write_bytes(b"M104 S200\r\nG1 X1\r\n")
    code = main(["--data-dir", str(tmp_path / "data"), "run", "PostProcess/search-and-replace",
                 "--doc", str(tmp_path / "in.gcode"), "--out", str(tmp_path / "out.gcode"),
                 "--set", r"find=^M104 S(\d+)", "--set", r"replace=M104 S\1\nM109 S\1"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out.gcode").read_bytes() == b"M104 S200\r\nM109 S200\r\nG1 X1\r\n"
