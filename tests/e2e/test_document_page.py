"""The Document page in a real browser: what a failed open says, and the statistics beside the preview."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SQUARE = b"G28\nG1 Z0.2 F3000\nG1 X10 Y0 E1\nG1 X10 Y10 E2\nG1 X0 Y10 E3\nG1 Z0.4\nG1 X10 Y10 E4\n"
# The SVG format turns this into G1 moves at Z0 (pen lifts with G0 Z2), no extrusion; drawn box 30 × 30 mm.
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40mm" height="40mm" viewBox="0 0 40 40">'
       b'<circle cx="20" cy="20" r="15"/><path d="M5 5 L35 5 L35 35"/></svg>')


def open_file(page: Any, name: str, data: bytes, mime: str = "text/plain") -> None:
    page.goto(page.url.split("#")[0] + "#document")
    page.set_input_files("#doc-file", files=[{"name": name, "mimeType": mime, "buffer": data}])


def open_svg(page: Any, name: str, data: bytes) -> None:
    open_file(page, name, data, "image/svg+xml")
    page.click(".format-dialog [data-role=ok]")  # the format's open settings, as they are


def statistics(page: Any) -> dict[str, str]:
    return dict(page.evaluate("""() => [...document.querySelectorAll('#doc-stats dt')]
        .map((dt) => [dt.textContent, dt.nextElementSibling.textContent])"""))


def test_a_failed_open_says_why_once(page: Any) -> None:
    open_svg(page, "broken.svg", b"<svg")
    status = page.wait_for_selector("#doc-status.err", timeout=20_000).inner_text()
    assert status.startswith("Could not open broken.svg: not a readable SVG document")
    assert status.count("not a readable SVG document") == 1, status
    assert "broken.svg: broken.svg" not in status


def test_an_opened_svg_has_one_layer_and_a_size(page: Any) -> None:
    open_svg(page, "drawing.svg", SVG)
    page.wait_for_selector("#doc-name:text('drawing.gcode')", timeout=20_000)
    page.wait_for_selector("#layer-label:text-matches('^1 / 1')")
    stats = statistics(page)
    assert stats["Layers"] == "1"  # what the slider says
    assert stats["Size"] == "30.0 × 30.0 mm"  # the drawing, not the pen lifts or the trip from X0 Y0


def test_a_gcode_print_shows_its_layers_and_size(page: Any) -> None:
    open_file(page, "square.gcode", SQUARE)
    page.wait_for_selector("#doc-name:text('square.gcode')")
    page.wait_for_selector("#layer-label:text-matches('^2 / 2')")
    stats = statistics(page)
    assert stats["Layers"] == "2"
    assert stats["Size"] == "10.0 × 10.0 × 0.2 mm"
