"""PostProcess "Scale and translate" (examples/plugins/PostProcess/scale_translate.py), called as the worker calls it.

Expected jobs are written as "the original, with these lines replaced (and these inserted)", so every
line a test does not name is checked to stay byte for byte, line ending included.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from scriptdeck.document import Line
from scriptdeck.document.gcode import GcodeDocument

PRINT = (
    "; a small print\nG21\nG90\nM82\nG28\nG92 E0\nG1 Z0.2 F600\nG0 X10 Y10\nG1 X20 Y10 E1.5 F1200 ; wall\n"
    "G2 X30 Y20 I10 J0 E3\nG91\nG1 X-5 Y0 E0.5\nG90\nG1 Z0.4\nG0 X10.5 Y10\n"
)
RESTORE_E = " ; scriptdeck: the E the end G-code was written for"


@pytest.fixture(scope="module")
def scale(postprocess: Callable[[str], ModuleType]) -> ModuleType:
    return postprocess("scale_translate")


@pytest.fixture
def settings(service_defaults: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return service_defaults(1)


def rewritten(before: GcodeDocument, changes: dict[int, str], insert_at: int = -1, insert: str = "") -> bytes:
    """`before` with the lines `changes` names replaced (each keeps its ending) and `insert` put at `insert_at`."""
    out = []
    for index, line in before.lines():
        if index == insert_at:
            out.append(insert + before.line_ending)
        out.append(changes.get(index, line.raw) + line.ending)
    return "".join(out).encode("utf-8", "surrogateescape")


def test_cura_body_only_with_absolute_e(scale: ModuleType, settings: dict[str, Any], sliced: Any, window: Any) -> None:
    doc = sliced("cura")
    before = GcodeDocument.from_bytes(doc.to_bytes())
    scale.scale_translate(window, doc, {**settings, "scale_x": 2.0, "scale_y": 2.0, "offset_x": 30.0, "offset_y": 30.0})
    # Printing moves extrude twice as much; the unretract at 33 (E0 after the start's E-5) and the
    # retract at 48 keep their 5 mm, so E is recounted and set back to the job's -2.33912 for the end
    # G-code's absolute retract at 50. The purge line (21-22) and the present move (59) stay.
    assert doc.to_bytes() == rewritten(before, {
        31: "G0 F6000 X50 Y50 Z0.2",
        34: "G1 F1200 X70 Y50 E0.66522", 35: "G1 X70 Y70 E1.33044", 36: "G1 X50 Y70 E1.99566",
        37: "G1 X50 Y50 E2.66088",
        39: "G0 F6000 X50 Y50 Z0.4",
        44: "G1 F1200 X70 Y50 E3.3261", 45: "G1 X70 Y70 E3.99132", 46: "G1 X50 Y70 E4.65654",
        47: "G1 X50 Y50 E5.32176",
        48: "G1 F2700 E0.32176",
    }, insert_at=49, insert="G92 E-2.33912" + RESTORE_E)
    assert (before[29].raw, before[49].raw) == (";LAYER:0", ";TIME_ELAPSED:95.0")
    assert window.said == [("information", "11 lines of the print body (lines 30-49) transformed, start and end G-code "
                                           "unchanged; the part now spans X 50.00..70.00, Y 50.00..70.00, Z 0.20..0.40 mm")]


def test_prusaslicer_body_only_with_relative_e_and_z_scale(scale: ModuleType, settings: dict[str, Any],
                                                           sliced: Any, window: Any) -> None:
    doc = sliced("prusaslicer")
    before = GcodeDocument.from_bytes(doc.to_bytes())
    scale.scale_translate(window, doc, {**settings, "offset_x": -20.0, "scale_z": 2.0})
    # Twice the layer height: twice the filament per printed line; retracts (40, 62, 76) and
    # unretracts (46, 68) keep their 0.8 mm. The intro line at Y-3 (23-26) is start G-code and stays.
    assert doc.to_bytes() == rewritten(before, {
        41: "G1 Z0.8 F720", 44: "G1 X90.5 Y110.5 F10800", 45: "G1 Z0.4 F720",
        50: "G1 X100.5 Y110.5 E0.66524", 51: "G1 X100.5 Y120.5 E0.66524", 52: "G1 X90.5 Y120.5 E0.66524",
        53: "G1 X90.5 Y110.5 E0.66524",
        63: "G1 Z1.2 F720", 66: "G1 X90.5 Y110.5 F10800", 67: "G1 Z0.8 F720",
        72: "G1 X100.5 Y110.5 E0.66524", 73: "G2 X100.5 Y120.5 I0 J5 E1", 74: "G1 X90.5 Y120.5 E0.66524",
        75: "G1 X90.5 Y110.5 E0.66524",
    })
    assert (before[32].raw, before[78].raw) == (";LAYER_CHANGE", ";TYPE:Custom")


def test_the_whole_job_is_checked_against_the_bed_only_when_asked(scale: ModuleType, settings: dict[str, Any],
                                                                  sliced: Any, window: Any) -> None:
    doc = sliced("prusaslicer")
    with pytest.raises(ValueError, match=r"Y would span -3\.00\.\.200\.00 mm but the bed is 0\.\.220 mm \(first "
                                         r"outside: line 24: G1 Y-3 F1000 ; go outside print area\)"):
        scale.scale_translate(window, doc, {**settings, "offset_x": -20.0, "only_body": False})
    assert not doc.changed
    doc = sliced("cura")  # the present move (G1 X0 Y220) is end G-code: a 210 mm bed is enough for the body
    scale.scale_translate(window, doc, {**settings, "bed_y": 210.0})
    assert not doc.changed and window.said[-1][1].startswith("0 lines of the print body")
    with pytest.raises(ValueError, match=r"Y would span 10\.00\.\.220\.00 mm .* line 60: G1 X0 Y220 ;Present print"):
        scale.scale_translate(window, doc, {**settings, "bed_y": 210.0, "only_body": False})


def test_simplify3d_crlf_without_final_newline(scale: ModuleType, settings: dict[str, Any], sliced: Any,
                                               window: Any) -> None:
    doc = sliced("simplify3d_crlf_nofinal")
    before = GcodeDocument.from_bytes(doc.to_bytes())
    scale.scale_translate(window, doc, {**settings, "offset_x": 10.0, "offset_y": 5.0})
    assert doc.to_bytes() == rewritten(before, {
        21: "G1 X60 Y55 F4800",
        24: "G1 X70 Y55 E0.3326 F1080", 25: "G1 X70 Y65 E0.6652", 26: "G1 X60 Y65 E0.9978", 27: "G1 X60 Y55 E1.3304",
        31: "G1 X70 Y55 E1.663 F1080", 32: "G1 X70 Y65 E1.9956", 33: "G1 X60 Y65 E2.3282", 34: "G1 X60 Y55 E2.6608",
    })
    assert doc.to_bytes().endswith(b"Filament length: 2.7 mm")


def test_relative_moves_are_scaled_never_moved(scale: ModuleType, settings: dict[str, Any], window: Any) -> None:
    doc = GcodeDocument.from_text(PRINT)
    scale.scale_translate(window, doc, {**settings, "scale_x": 2.0, "scale_y": 2.0, "offset_x": 5.0, "offset_y": -5.0})
    # The body is lines 6-11 (no layer comments: from the first layer's Z move to the last extrusion).
    assert doc.text == PRINT.replace(
        "G0 X10 Y10\nG1 X20 Y10 E1.5 F1200 ; wall\nG2 X30 Y20 I10 J0 E3\nG91\nG1 X-5 Y0 E0.5\n",
        "G0 X25 Y15\nG1 X45 Y15 E3 F1200 ; wall\nG2 X65 Y35 I20 J0 E6\nG91\nG1 X-10 Y0 E1\n",
    )
    doc = GcodeDocument.from_text(PRINT)
    scale.scale_translate(window, doc, {**settings, "scale_x": 2.0, "scale_y": 2.0, "offset_x": 5.0, "offset_y": -5.0,
                                        "only_body": False})
    assert doc.text.endswith("G0 X25 Y15\nG1 X45 Y15 E3 F1200 ; wall\nG2 X65 Y35 I20 J0 E6\nG91\nG1 X-10 Y0 E1\n"
                             "G90\nG1 Z0.4\nG0 X26 Y15\n")


def test_g92_renames_positions_and_the_bed_check_reads_the_machine(scale: ModuleType, settings: dict[str, Any],
                                                                   window: Any) -> None:
    text = ("G90\nM82\nG28\n;LAYER:0\nG1 Z0.2 F600\nG1 X10 Y10\nG1 X20 Y10 E1\nG92 X0 Y0 E0 ; rename\n"
            "G1 X10 Y0 E1\n;TIME_ELAPSED:1\nG1 E0.5\nG1 X0 Y200\n")
    doc = GcodeDocument.from_text(text)
    scale.scale_translate(window, doc, {**settings, "scale_x": 2.0, "scale_y": 2.0, "offset_x": 5.0, "offset_y": 5.0})
    # After the G92 the head is at machine X20 (T: 45) named 0 (T: 5), so X10 means machine 30 (T: 65).
    # E starts again at the G92 in both counts; the end G-code's absolute E0.5 gets its E1 back.
    assert doc.text == (
        "G90\nM82\nG28\n;LAYER:0\nG1 Z0.2 F600\nG1 X25 Y25\nG1 X45 Y25 E2\nG92 X5 Y5 E0 ; rename\n"
        f"G1 X25 Y5 E2\nG92 E1{RESTORE_E}\n;TIME_ELAPSED:1\nG1 E0.5\nG1 X0 Y200\n"
    )
    assert float(doc.toolpath().x[8]) == 65.0
    doc = GcodeDocument.from_text(text)
    with pytest.raises(ValueError, match=r"X would span 25\.00\.\.65\.00 mm but the bed is 0\.\.60 mm \(first "
                                         r"outside: line 9: G1 X10 Y0 E1\)"):
        scale.scale_translate(window, doc, {**settings, "scale_x": 2.0, "scale_y": 2.0, "offset_x": 5.0,
                                            "offset_y": 5.0, "bed_x": 60.0})
    assert doc.text == text and not doc.changed


def test_an_arc_is_checked_over_its_whole_sweep(scale: ModuleType, settings: dict[str, Any], window: Any) -> None:
    doc = GcodeDocument.from_text("G90\nG0 X10 Y100\nG2 X30 Y100 I10 J0 E1\n")  # clockwise over the top: Y 110
    # (the document model follows arcs with chords within 0.02 mm)
    with pytest.raises(ValueError, match=r"Y would span 100\.00\.\.1(09\.9\d|10\.00) mm but the bed is 0\.\.105 mm \(first "
                                         r"outside: line 3: G2 X30 Y100 I10 J0 E1\)"):
        scale.scale_translate(window, doc, {**settings, "bed_y": 105.0})


def test_arcs_i_j_scaled_and_a_mirror_swaps_direction(scale: ModuleType, settings: dict[str, Any],
                                                      window: Any) -> None:
    doc = GcodeDocument.from_text("G90\nG0 X10 Y10\nG2 X20 Y10 I5 J0 ; arc\r\nG3 X30 Y10 I5 J2\n")
    scale.scale_translate(window, doc, {**settings, "scale_x": -1.0, "scale_y": 1.0, "offset_x": 100.0})
    assert doc.text == "G90\nG0 X90 Y10\nG3 X80 Y10 I-5 J0 ; arc\r\nG2 X70 Y10 I-5 J2\n"
    doc = GcodeDocument.from_text("G90\nG0 X10 Y10\nG2 X20 Y10 I5 J0\n")
    scale.scale_translate(window, doc, {**settings, "scale_x": 1.5, "scale_y": 1.5})
    assert doc.text == "G90\nG0 X15 Y15\nG2 X30 Y15 I7.5 J0\n"
    with pytest.raises(ValueError, match=r"line 3 is an arc \(G2 X20 Y10 I5 J0\)"):
        scale.scale_translate(window, GcodeDocument.from_text("G90\nG0 X10 Y10\nG2 X20 Y10 I5 J0\n"),
                              {**settings, "scale_x": 2.0})


def test_unchanged_values_leave_lines_byte_exact(scale: ModuleType, settings: dict[str, Any], sliced: Any,
                                                 window: Any) -> None:
    for name in ("cura", "prusaslicer", "simplify3d_crlf_nofinal", "plain_mixed"):
        doc = sliced(name)
        scale.scale_translate(window, doc, {**settings, "only_body": False, "check_bed": False})
        assert not doc.changed, name
    doc = GcodeDocument.from_text("G1 X10.000 Y20.000 Z0.300 E1.00 ; wall\n")
    scale.scale_translate(window, doc, {**settings, "offset_y": 1.0})
    assert doc.text == "G1 X10 Y21 Z0.3 E1 ; wall\n"  # a changed line is written canonically


def test_an_inch_job_takes_its_offsets_in_mm(scale: ModuleType, settings: dict[str, Any], window: Any) -> None:
    doc = GcodeDocument.from_text("G20\nG90\nG0 X1 Y1\n")  # no extrusion, no layers: the whole job
    scale.scale_translate(window, doc, {**settings, "offset_x": 25.4})
    assert doc.text == "G20\nG90\nG0 X2 Y1\n"
    assert window.said[0][1].startswith("1 lines transformed; the job now spans X 50.80..50.80")


@pytest.mark.parametrize(("extra", "message"), [
    ({"scale_x": 0.0}, "a scale of 0 would flatten the job"),
    ({"offset_x": 200.0}, r"X would span 210\.00\.\.230\.00 mm .*first outside: line 10: G2 X30 Y20 I10 J0 E3"),
])
def test_errors_leave_the_job_alone(scale: ModuleType, settings: dict[str, Any], window: Any,
                                    extra: dict[str, Any], message: str) -> None:
    doc = GcodeDocument.from_text(PRINT)
    with pytest.raises(ValueError, match=message):
        scale.scale_translate(window, doc, {**settings, **extra})
    assert doc.text == PRINT and not doc.changed and not doc.can_undo


def test_without_the_bed_check_the_job_may_leave_the_bed(scale: ModuleType, settings: dict[str, Any],
                                                         window: Any) -> None:
    doc = GcodeDocument.from_text(PRINT)
    scale.scale_translate(window, doc, {**settings, "offset_x": 200.0, "check_bed": False})
    assert "G2 X230 Y20 I10 J0 E3" in doc.text and doc.undo_label == "Scale and translate"


# -- the numpy version against the line-by-line one ---------------------------------------------------
# Plain moves are read and written with numpy (gcode_lines.py) and changed with numpy, the other lines
# with Line (scale_translate.py).
# `line_by_line` is the transform as the plugin made it before, one Line at a time following a
# GcodeState; the new version must give the same bytes on jobs full of what tells the two apart.


def line_by_line(doc: GcodeDocument, settings: dict[str, Any], first: int, end: int,
                 state_module: ModuleType) -> tuple[dict[int, str], float | None]:
    """The rewritten lines (index → raw) and the E to restore, following every line."""
    scale = {a: float(settings.get(f"scale_{a.lower()}", 1.0)) for a in "XYZ"}
    offset = {a: float(settings.get(f"offset_{a.lower()}", 0.0)) for a in "XYZ"}
    e_factor = math.sqrt(abs(scale["X"] * scale["Y"])) * abs(scale["Z"]) if settings.get("scale_extrusion", True) else 1.0
    mirror = scale["X"] * scale["Y"] < 0
    toolpath, state, e_new, out = doc.toolpath(), state_module.GcodeState(), 0.0, {}
    for index, line in doc.lines(0, end):
        if index == first:
            e_new = state.position["E"]
        state.set_modes(toolpath.state_at(index))
        command, words = line.command, line.words
        move = state.move_of(command, words)
        if index >= first and (move is not None or command == "G92"):
            changes = {}
            for axis in "XYZ":
                if words.get(axis) is not None:
                    scaled = words[axis] * scale[axis]  # type: ignore[operator]
                    relative = move is not None and state.modes.xyz_relative
                    changes[axis] = scaled if relative else scaled + offset[axis] / state.modes.unit
            if move in ("G2", "G3"):
                for key, factor in (("I", scale["X"]), ("J", scale["Y"]), ("R", abs(scale["X"]))):
                    if words.get(key) is not None:
                        changes[key] = words[key] * factor  # type: ignore[operator]
            if e_factor != 1.0 and words.get("E") is not None:
                value = float(words["E"] or 0.0)
                if move is None:
                    e_new = value
                else:
                    delta = value if state.modes.e_relative else value - state.position["E"]
                    target = state.target(words)
                    moving = move in ("G2", "G3") or any(
                        not math.isclose(target[a], state.position[a], abs_tol=1e-9) for a in "XYZ" if a in target)
                    delta = delta * e_factor if delta > 0 and moving else delta
                    changes["E"] = delta if state.modes.e_relative else e_new + delta
                    e_new += delta
            changes = {k: v for k, v in changes.items() if not math.isclose(v, float(words[k] or 0.0), abs_tol=1e-9)}
            if mirror and command in ("G2", "G3"):
                comment = line.comment
                out[index] = Line.make("G3" if command == "G2" else "G2", {**words, **changes},
                                       comment.strip() if comment is not None else None).raw
            elif changes:
                out[index] = line.with_words(**changes).raw
        state.follow_words(command, words, move)
    e_job, restore = state.position["E"], None
    if e_factor != 1.0 and not math.isclose(e_new, e_job, abs_tol=1e-9):
        for index, line in doc.lines(end):
            state.set_modes(toolpath.state_at(index))
            move = state.move_of(line.command, line.words)
            if line.words.get("E") is not None and (line.command == "G92" or (move and not state.modes.e_relative)):
                restore = e_job if line.command != "G92" else None
                break
    return out, restore


def odd_job(seed: int, lines: int = 3000) -> str:
    """A job of plain moves and everything that is not one: spellings Line reads its own way, G91, G92,
    G28, G20, M83 stretches, arcs, bare coordinates, long numbers and values on rounding ties."""
    rng = random.Random(seed)
    out = ["G21", "G90", "M82", "G28", "G92 E0", ";LAYER:0", "G1 Z0.2 F600"]
    e = 0.0
    odd = ["G01 X{y}00 Y{y} E{e}", "g1 x{x} y{y} e{e}", "G1X{x}Y{y}E{e}", "X{x} Y{y} E{e}", "N7 G1 X{x} Y{y}*71",
           "G1 X{x} (why) Y{y}", "G1 X1.2.3 Y{y}", "G1 X{x} X{y}", "G1 X {x}", "G1\tX{x} Y{y}", "G1 X{x} Y{y} S90",
           "G1 X{x} Y{y} E{e} ;  spaced out  ", "G1 X{x} Y{y};", "G1 X-0 Y-0.000001 E{e}", "G1 X.5 Y{y}",
           "G1 X123456789.123 Y{y}", "G1 X1.123456789 Y0.000000001 E{e}", "G1 X0.015625 Y0.046875 E{e}",
           "G1 X{x} Y{y} E1{e}00000000", "G1 X1234567.25 Y-765432.125 E{e}",
           "G1 X999999.999995 Y99999.999996 E{e}", "G1 X-99999.99 Y5000000", "G2 X{x} Y{y} I1.5 J-2 E{e}", "G3 X{x} Y{y} R5", "G2", "G1 ; nothing",
           "G28 X", "G92 X10 Y10", "G91", "G90", "M83", "M82", "G20", "G21", "G92 E0", "M117 G1 X5", "G1 E-0.8"]
    while len(out) < lines:
        e += 0.03125
        x, y = f"{rng.uniform(10, 150):.{rng.randint(0, 4)}f}", f"{rng.uniform(10, 150):.3f}"
        text = rng.choice(odd) if rng.random() < 0.15 else "G1 X{x} Y{y} E{e}"
        out.append(text.format(x=x, y=y, e=f"{e:.5f}"))
        if rng.random() < 0.01:
            out.append(f";LAYER:{len(out)}")
    out += [";TIME_ELAPSED:9", "G90", "M82", "G1 E2", "G1 X0 Y200"]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("chunk", [None, 333])
@pytest.mark.parametrize("job", ["cura", "prusaslicer", "simplify3d_crlf_nofinal", "plain_mixed", "odd1", "odd2"])
def test_the_same_bytes_as_line_by_line(scale: ModuleType, postprocess: Callable[[str], ModuleType],
                                        settings: dict[str, Any], sliced: Any, monkeypatch: pytest.MonkeyPatch,
                                        job: str, chunk: int | None) -> None:
    if chunk is not None:  # many chunks: lines and words on their borders
        monkeypatch.setattr(postprocess("gcode_lines"), "CHUNK", chunk)
    for extra in ({"scale_x": 0.5, "scale_y": 0.5, "offset_x": 10.0, "offset_y": 10.0},
                  {"scale_x": -1.2, "scale_y": 1.2, "offset_x": 220.0, "scale_z": 0.7, "offset_z": 0.05},
                  {"scale_z": 2.0, "scale_extrusion": False, "only_body": False},
                  {"scale_x": 1 / 3, "scale_y": 1 / 3, "offset_y": 1e-7, "only_body": False}):
        doc = GcodeDocument.from_text(odd_job(int(job[3:]))) if job.startswith("odd") else sliced(job)
        given = {**settings, **extra}
        body = scale.print_body(doc) if given["only_body"] else None
        first, end = body if body is not None else (0, len(doc))
        expected, restore = line_by_line(doc, given, first, end, postprocess("gcode_state"))
        plan = scale.transform(doc, given, first, end)
        assert plan.edits == len(expected) and plan.restore_e == restore, (job, extra)
        assert (plan.text or doc.to_bytes()) == rewritten(doc, expected), (job, extra)


def test_running_adds_in_file_order(postprocess: Callable[[str], ModuleType]) -> None:
    running = postprocess("gcode_state").running
    rng = np.random.default_rng(3)
    # Runs of additions of every length around the 64 steps taken together, each after a value set.
    adds = np.concatenate([np.r_[False, np.ones(n, bool)] for n in (0, 1, 2, 7, 63, 64, 65, 66, 200, 1000, 3)])
    adds[0] = True  # the first run adds to the start
    values = rng.uniform(-1e3, 1e3, adds.size) * rng.choice([1e-6, 1.0, 1e6], adds.size)
    expected, x = [], 1.5
    for value, add in zip(values.tolist(), adds.tolist(), strict=True):
        x = x + value if add else value
        expected.append(x)
    assert running(values, adds, 1.5).tolist() == expected  # equal floats, not approximately
