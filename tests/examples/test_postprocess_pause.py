"""PostProcess "Pause at height" (examples/plugins/PostProcess/pause_at_height.py), called as the worker calls it.

The inserted block is compared line for line, and the rest of the job byte for byte. That the block
restores what it changes is checked with the document model itself: every original line after the
block leaves the head (X, Y, Z and E) exactly where it did before.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from scriptdeck.document import ModalState
from scriptdeck.document.gcode import GcodeDocument

LAYERS = (
    ";FLAVOR:Marlin\nG28\n;LAYER:0\nG1 Z0.2 F600\nG1 X10 Y10 E1\n;LAYER:1\nG1 Z0.4\nG1 X20 E2\n"
    ";LAYER:2\nG1 Z0.6\nG1 X10 E3\n"
)
PARK = {"park_x": 5.0, "park_y": 215.0}  # not the print's X/Y, so "park" and "back" lines differ


@pytest.fixture(scope="module")
def pause(postprocess: Callable[[str], ModuleType]) -> ModuleType:
    return postprocess("pause_at_height")


@pytest.fixture
def settings(service_defaults: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return {**service_defaults(0), **PARK}


def inserted(before: GcodeDocument, at: int, block: list[str]) -> bytes:
    """`before`'s bytes with `block` inserted at line `at`, each line with the document's ending."""
    cut = int(before.line_start_offsets()[at])
    data = before.to_bytes()
    return data[:cut] + "".join(line + before.line_ending for line in block).encode() + data[cut:]


def assert_block(before: GcodeDocument, after: GcodeDocument, at: int, block: list[str]) -> None:
    """`after` is `before` with `block` at line `at`, and every line after the block moves the head
    to the same X, Y, Z and E as in `before`: the block restored what it changed."""
    assert after.to_bytes() == inserted(before, at, block)
    old, new = before.toolpath(), after.toolpath()
    for axis in "xyze":
        np.testing.assert_allclose(getattr(new, axis)[at + len(block) :], getattr(old, axis)[at:], atol=1e-9)


def test_cura_m82_job_parks_and_returns(pause: ModuleType, settings: dict[str, Any], sliced: Any, window: Any) -> None:
    doc = sliced("cura")
    before = GcodeDocument.from_bytes(doc.to_bytes())
    pause.pause_at_height(window, doc, {**settings, "z": 0.4})
    block = [
        ";PAUSE_AT_HEIGHT Z=0.4 (scriptdeck PostProcess)",
        "M117 Paused - press to resume",
        "M83 ; relative extrusion for the retract",
        "G1 E-1 F1500 ; retract",
        "G1 Z10.4 F600 ; lift",
        "G1 X5 Y215 F6000 ; park",
        "M0 Paused - press to resume",
        "G1 X10 Y10 F6000 ; back over the print",
        "G1 Z0.4 F600 ; down to the print",
        "G1 E1 F1500 ; unretract",
        "G1 F6000 ; the job's feed rate",
        "M82 ; absolute extrusion again",
    ]
    at = before.layers[1].first_line
    assert before[at].raw == ";LAYER:1"
    assert_block(before, doc, at, block)
    assert window.said == [("information", "M0 inserted before layer 1 (Z=0.4 mm), line 42; the head parks at X5 Y215")]


def test_prusaslicer_m83_job_keeps_relative_extrusion(pause: ModuleType, settings: dict[str, Any], sliced: Any,
                                                      window: Any) -> None:
    doc = sliced("prusaslicer")
    before = GcodeDocument.from_bytes(doc.to_bytes())
    pause.pause_at_height(window, doc, {**settings, "z": 0.3, "retract": 0.8, "lift_z": 5.0, "retract_speed": 35.0,
                                        "travel_speed": 150.0})
    block = [
        ";PAUSE_AT_HEIGHT Z=0.3 (scriptdeck PostProcess)",
        "M117 Paused - press to resume",
        "G1 E-0.8 F2100 ; retract",
        "G1 Z5.2 F600 ; lift",
        "G1 X5 Y215 F9000 ; park",
        "M0 Paused - press to resume",
        "G1 X110.5 Y110.5 F9000 ; back over the print",
        "G1 Z0.2 F600 ; down to the print",
        "G1 E0.8 F2100 ; unretract",
        "G1 F1800 ; the job's feed rate",
    ]
    at = before.layers[1].first_line
    assert before[at].raw == ";LAYER_CHANGE"
    assert_block(before, doc, at, block)


def test_relative_moves_with_absolute_extrusion_are_restored(pause: ModuleType, settings: dict[str, Any],
                                                             window: Any) -> None:
    text = "G28\nG90\nM82\nG1 Z0.2 F1200\nG1 X10 Y10 E1\nG91\nM82\nG1 Z0.2\nG1 X5 E2 F900\n"
    doc, before = GcodeDocument.from_text(text), GcodeDocument.from_text(text)
    pause.pause_at_height(window, doc, {**settings, "z": 0.4})
    block = [
        ";PAUSE_AT_HEIGHT Z=0.4 (scriptdeck PostProcess)",
        "M117 Paused - press to resume",
        "G90 ; absolute moves for the park",
        "M83 ; relative extrusion for the retract",
        "G1 E-1 F1500 ; retract",
        "G1 Z10.2 F600 ; lift",
        "G1 X5 Y215 F6000 ; park",
        "M0 Paused - press to resume",
        "G1 X10 Y10 F6000 ; back over the print",
        "G1 Z0.2 F600 ; down to the print",
        "G1 E1 F1500 ; unretract",
        "G1 F1200 ; the job's feed rate",
        "G91 ; relative moves again",
        "M82 ; absolute extrusion again",  # G91 made E relative on Marlin; the job had M82 after it
    ]
    assert_block(before, doc, 7, block)


def test_an_inch_job_gets_its_park_in_inches(pause: ModuleType, settings: dict[str, Any], window: Any) -> None:
    text = "G20\nG91\nG1 Z0.01 F30\nG1 X1 Y1 E0.1\nG1 Z0.01\nG1 X1 E0.1\n"
    doc, before = GcodeDocument.from_text(text), GcodeDocument.from_text(text)
    pause.pause_at_height(window, doc, {**settings, "z": 0.5, "message": ""})
    block = [
        ";PAUSE_AT_HEIGHT Z=0.5 (scriptdeck PostProcess)",
        "G90 ; absolute moves for the park",
        "M83 ; relative extrusion for the retract",
        "G1 E-0.03937 F59.05512 ; retract",
        "G1 Z0.4037 F23.62205 ; lift",
        "G1 X0.19685 Y8.46457 F236.22047 ; park",
        "M0",
        "G1 X1 Y1 F236.22047 ; back over the print",
        "G1 Z0.01 F23.62205 ; down to the print",
        "G1 E0.03937 F59.05512 ; unretract",
        "G1 F30 ; the job's feed rate",
        "G91 ; relative moves again",
        "M83 ; relative extrusion again",
    ]
    assert_block(before, doc, 4, block)


def test_crlf_job_without_a_final_newline_stays_so(pause: ModuleType, settings: dict[str, Any], sliced: Any,
                                                   window: Any) -> None:
    doc = sliced("simplify3d_crlf_nofinal")
    before = GcodeDocument.from_bytes(doc.to_bytes())
    pause.pause_at_height(window, doc, {**settings, "z": 0.4, "retract": 0.0, "lift_z": 0.0, "message": "",
                                        "command": "M25"})
    block = [
        ";PAUSE_AT_HEIGHT Z=0.4 (scriptdeck PostProcess)",
        "G1 X5 Y215 F6000 ; park",
        "M25",
        "G1 X50 Y50 F6000 ; back over the print",
        "G1 F1080 ; the job's feed rate",
    ]
    at = before.layers[1].first_line
    assert_block(before, doc, at, block)
    assert doc.to_bytes().endswith(b"Filament length: 2.7 mm")


def test_custom_gcode_is_parked_too_and_a_job_without_f_gets_the_firmware_default(
    pause: ModuleType, settings: dict[str, Any], window: Any
) -> None:
    doc = GcodeDocument.from_text(";LAYER:0\nG1 Z0.2\nG1 X10 E1\n")
    pause.pause_at_height(window, doc, {**settings, "z": 0.2, "command": "custom", "custom_gcode": "M400|M601",
                                        "message": "", "lift_z": 2.0})
    assert doc.text == (
        ";PAUSE_AT_HEIGHT Z=0.2 (scriptdeck PostProcess)\nM83 ; relative extrusion for the retract\n"
        "G1 E-1 F1500 ; retract\nG1 Z2 F600 ; lift\nG1 X5 Y215 F6000 ; park\nM400\nM601\n"
        "G1 X0 Y0 F6000 ; back over the print\nG1 Z0 F600 ; down to the print\nG1 E1 F1500 ; unretract\n"
        "G1 F1500 ; the firmware's default feed rate (the job set none yet)\nM82 ; absolute extrusion again\n"
        ";LAYER:0\nG1 Z0.2\nG1 X10 E1\n"
    )
    assert window.said[0][1].startswith("custom G-code inserted before layer 0")


def test_m600_parks_by_itself(pause: ModuleType, settings: dict[str, Any], window: Any) -> None:
    doc = GcodeDocument.from_text(LAYERS)
    pause.pause_at_height(window, doc, {**settings, "z": 0.3, "command": "M600"})
    assert doc.text == LAYERS.replace(";LAYER:1", ";PAUSE_AT_HEIGHT Z=0.3 (scriptdeck PostProcess)\n"
                                                  "M117 Paused - press to resume\nM600\n;LAYER:1")
    assert window.said == [("information", "M600 inserted before layer 1 (Z=0.4 mm), line 6; "
                                           "M600 parks the head itself, so no park was added")]


@pytest.mark.parametrize(("extra", "block"), [
    ({"command": "M0"}, "M117 Paused - press to resume\nM0 Paused - press to resume\n"),
    ({"command": "M600", "message": ""}, "M600\n"),
    ({"command": "custom", "custom_gcode": "G91|G1 Z10|G90|M0", "message": ""}, "G91\nG1 Z10\nG90\nM0\n"),
])
def test_without_park_the_block_is_what_it_always_was(pause: ModuleType, settings: dict[str, Any], window: Any,
                                                      extra: dict[str, Any], block: str) -> None:
    doc = GcodeDocument.from_text(LAYERS)
    pause.pause_at_height(window, doc, {**settings, "z": 0.6, "park": False, **extra})
    assert doc.text == LAYERS.replace(";LAYER:2", f";PAUSE_AT_HEIGHT Z=0.6 (scriptdeck PostProcess)\n{block};LAYER:2")
    assert "park" not in window.said[0][1]


@pytest.mark.parametrize(("extra", "message"), [
    ({"z": 5.0}, r"no layer at or above Z=5 mm; the highest layer is at Z=0\.6 mm"),
    ({"command": "custom", "custom_gcode": " | "}, "custom_gcode is empty"),
])
def test_errors_leave_the_job_alone(pause: ModuleType, settings: dict[str, Any], window: Any,
                                    extra: dict[str, Any], message: str) -> None:
    doc = GcodeDocument.from_text(LAYERS)
    with pytest.raises(ValueError, match=message):
        pause.pause_at_height(window, doc, {**settings, **extra})
    assert not doc.changed


# -- the state the block is written for ---------------------------------------------------------

TRICKY = (
    "G21 G90 ; two modal words\nM82\nG28\nG1 Z5 F3000\nG1 X10 Y20 E2 F1800\nG92 X0 Y0 E0 ; rename\n"
    "G1 X5 E1\nM117 G91 is only text\nG91\nG1 X1 Y1 Z0.2 E0.5\nM82\nG1 E3\nX2 Y2\nG90\nG20\nG1 X1 F10\n"
    "G28 X\nG1 Y2\n"
)


@pytest.mark.parametrize("name", ["cura", "prusaslicer", "simplify3d_crlf_nofinal", "plain_mixed", "tricky"])
def test_the_quick_state_equals_following_every_line(postprocess: Callable[[str], ModuleType], sliced: Any,
                                                     name: str) -> None:
    # Both sides take the modes from the document (tests/document/test_toolpath.py checks those line by
    # line); the position is the plugin's own: the toolpath minus G92 against following every line.
    state = postprocess("gcode_state")
    doc = GcodeDocument.from_text(TRICKY) if name == "tricky" else sliced(name)
    toolpath = doc.toolpath()
    followed = state.GcodeState()
    for index, line in doc.lines():
        quick = state.state_before(doc, index)
        assert quick.modes == followed.modes == (toolpath.state_at(index - 1) if index else ModalState()), index
        assert quick.position == pytest.approx(followed.position), index
        followed.follow(line, toolpath.state_at(index))


def test_a_message_naming_modes_changes_nothing(pause: ModuleType, settings: dict[str, Any], window: Any) -> None:
    # The job stays absolute, metric, F600: the block is the one for the job without the message.
    message = "M117 G91 M83 G20 F99 are only text"
    plain = "G90\nM82\nG1 Z0.2 F600\nG1 X10 E1\nG1 Z0.4\nG1 X20 E2\n"
    with_message = plain.replace("G1 Z0.2", f"{message}\nG1 Z0.2", 1)
    expected = GcodeDocument.from_text(plain)
    pause.pause_at_height(window, expected, {**settings, "z": 0.4})
    doc = GcodeDocument.from_text(with_message)
    pause.pause_at_height(window, doc, {**settings, "z": 0.4})
    assert doc.text == expected.text.replace("G1 Z0.2", f"{message}\nG1 Z0.2", 1)
    assert "G1 F600 ; the job's feed rate" in doc.text.splitlines()
