"""Action "Scale and translate": resize and move the printed part, refusing a result that leaves the bed.

Absolute coordinates become `value * scale + offset`; relative ones (G91) are only scaled; G92
positions are transformed like absolute ones (so later absolute moves still agree with them); arc
centres (I/J) and radii (R) are scaled, and a mirror (one negative XY scale) swaps G2 and G3.
With `only_body` (the default) only the print body changes: the start G-code before the first layer
(homing, purge line) and the end G-code after the last layer (present, park) stay byte for byte.

With `scale_extrusion`, the filament a move prints is multiplied by the change in path length times
the change in layer height (sqrt(|sx·sy|)·|sz|), so lines keep their width; retracts, unretracts
and wipes keep their length. In absolute E (M82) the E values are recounted from there; when the
untouched end G-code moves E absolutely, a `G92 E<value>` after the body gives it the E it was
written for.

The bed check covers what is transformed, read by the document model after the edits (machine
coordinates, arcs' full sweep); a failure rolls the edits back, so the job is left as it was.
Runs in a scriptdeck worker; uses the document's public API.

How it is fast: a sliced job is nearly all plain moves (`G1 X12.5 Y3 E0.0421`), so they are read
and written with numpy (gcode_lines.py), changed here with numpy a chunk at a time, and the document
takes the new job in one `assign`. The other lines that matter (G92, G28, bare coordinates, unusual
spellings) are rewritten with `Line`, one by one, as every line once was. The arithmetic is that
line-by-line reading's, step for step (running sums add in file order, numbers are rounded exactly
as `format_number` rounds them), so the result is the same byte for byte. benchmarks/postprocess.py
times a 500,000-line job: ~2.1-2.8 s on 2 cores (~18 s line by line), two thirds of it the document
model's own work (its analysis before and after the edits, `assign`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scriptdeck.document import Line, format_number

from .gcode_lines import (
    CENTRE_I,
    CENTRE_J,
    G28,
    G92,
    LETTERS,
    MOVE,
    RADIUS,
    E,
    Program,
    Words,
    X,
    Y,
    Z,
    read_program,
    write_lines,
)
from .gcode_state import positions_after, running

# Where the last layer ends: the first of these after the last extruding move. Cura closes every layer
# with ;TIME_ELAPSED, PrusaSlicer and OrcaSlicer open the end G-code with ;TYPE:Custom, Simplify3D
# writes "; layer end". Cura's ";End of Gcode" and PrusaSlicer's "; filament used" come *after* the
# end G-code, so they cannot say where it starts; without a marker the body ends at the last extrusion.
END_MARKERS = r"^;TIME_ELAPSED:|^;TYPE:Custom\s*$|^; layer end"

MOVED, SCALED, CENTRED = 1, 2, 4  # Change.how


@dataclass
class Extent:
    """The smallest and largest value each axis reaches (mm), and the first line outside the bed per axis."""

    low: dict[str, float] = field(default_factory=lambda: dict.fromkeys("XYZ", math.inf))
    high: dict[str, float] = field(default_factory=lambda: dict.fromkeys("XYZ", -math.inf))
    outside: dict[str, int] = field(default_factory=dict)

    def add(self, axis: str, lines: np.ndarray, values: np.ndarray, bed: dict[str, float] | None) -> None:
        """Values the head reaches on `axis`, each with the index of the line that takes it there."""
        if not values.size:
            return
        self.low[axis] = min(self.low[axis], float(values.min()))
        self.high[axis] = max(self.high[axis], float(values.max()))
        if bed is not None:
            bad = lines[(values < -1e-6) | (values > bed[axis] + 1e-6)]
            if bad.size:
                self.outside[axis] = min(self.outside.get(axis, int(bad.min())), int(bad.min()))

    @property
    def first_outside(self) -> tuple[int, str] | None:
        """(line index, axis) of the first line that leaves the bed, or None."""
        return min(((line, axis) for axis, line in self.outside.items()), default=None)


@dataclass
class Change:
    """What the transform does to each word: the settings and, per line, what the line is."""

    factor: np.ndarray  # per row: X/Y/Z/I/J scale, |scale X| for R
    offset: np.ndarray  # per row: X/Y/Z offset (mm)
    mirror: bool
    body: np.ndarray  # per line: a move or G92 of the body, so its words change
    how: np.ndarray  # per line: MOVED (absolute moves, G92) or SCALED (G91 moves); | CENTRED for arcs with I/J/R
    unit: np.ndarray | None  # mm per file unit per line; None when all are 1
    e: np.ndarray  # the E each body move gets (NaN: none)

    def new(self, row: np.ndarray, line: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The new value of each word (its row, line, value); NaN where the word is not transformed.

        X/Y/Z: `value * scale + offset / unit` (G91 moves: `value * scale`), as the line-by-line
        version computed them, in the same order of operations (dividing by a unit of 1 changes nothing).
        """
        how = self.how[line]
        offset = self.offset[row]
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = value * self.factor[row]
            new = np.where(how & SCALED, scaled, scaled + (offset if self.unit is None else offset / self.unit[line]))
        new[(row > Z) | (how == 0)] = np.nan
        arc = (row >= CENTRE_I) & (how >= CENTRED)
        new[arc] = scaled[arc]
        e = row == E
        new[e] = self.e[line[e]]
        return new


@dataclass
class Plan:
    """What a run changes: the new job (None: no line changes), how many lines, and what to check."""

    program: Program
    text: bytes | None = None
    edits: int = 0  # lines rewritten
    named: dict[str, np.ndarray] = field(default_factory=dict)  # body moves naming each axis
    arcs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # body G2/G3 moves
    restore_e: float | None = None  # absolute E the untouched end G-code expects (G92 E… at `end`)


def _number(settings: dict[str, Any], name: str, default: float) -> float:
    return float(settings.get(name, default))


def print_body(document: Any) -> tuple[int, int] | None:
    """Lines [first, end) from the first layer to the end of the last one; None when the job has no layers."""
    layers = document.layers
    if not layers:
        return None
    first = layers[0].first_line
    printing = document.toolpath().printing.nonzero()[0]
    if not printing.size:  # layer comments but no extrusion: the layers are all there is
        return first, len(document)
    last = int(printing[-1])
    marker = document.find(pattern=END_MARKERS, start=last + 1)
    return first, max(first, marker[0] if marker else last + 1)


# -- the plan -----------------------------------------------------------------------------------------


def transform(document: Any, settings: dict[str, Any], first: int, end: int) -> Plan:
    """The plan that transforms lines [first, end), with the new job; ValueError when the settings cannot
    be applied.

    The lines before `first` are read for their position, the lines from `end` on for whether they
    need E set back (`Plan.restore_e`); neither is changed. The modes are the document's.
    """
    scale = {a: _number(settings, f"scale_{a.lower()}", 1.0) for a in "XYZ"}
    offset = {a: _number(settings, f"offset_{a.lower()}", 0.0) for a in "XYZ"}
    if any(s == 0 for s in scale.values()):
        raise ValueError("Scale and translate: a scale of 0 would flatten the job; use a positive scale")
    e_factor = math.sqrt(abs(scale["X"] * scale["Y"])) * abs(scale["Z"]) if settings.get("scale_extrusion", True) else 1.0
    toolpath = document.toolpath()  # of the job as it is: the edits are made after the plan
    program = read_program(document)
    kind, n = program.kind, program.kind.size
    body = np.zeros(n, bool)
    body[first:end] = (kind[first:end] == MOVE) | (kind[first:end] == G92)
    moves = body & (kind == MOVE)
    arcs = moves & (program.move >= 2)
    centre_words = [~np.isnan(program.rows[row]) for row in (CENTRE_I, CENTRE_J, RADIUS) if row in program.rows]
    centred = arcs & np.logical_or.reduce(centre_words) if centre_words else np.zeros(n, bool)
    if centred.any() and not math.isclose(abs(scale["X"]), abs(scale["Y"])):
        index = int(np.flatnonzero(centred)[0])
        raise ValueError(
            f"Scale and translate: line {index + 1} is an arc ({program.line(index).raw.strip()}); arcs stay arcs only "
            "when X and Y are scaled alike — use the same scale_x and scale_y"
        )
    sx, sy, sz = scale["X"], scale["Y"], scale["Z"]
    relative = moves & toolpath.xyz_relative
    how = np.where(relative, SCALED, np.where(body, MOVED, 0)) + np.where(centred, CENTRED, 0)
    metric = not (toolpath.unit != 1.0).any()
    change = Change(np.array([sx, sy, sz, np.nan, np.nan, sx, sy, abs(sx)]),
                    np.array([offset["X"], offset["Y"], offset["Z"], 0, 0, 0, 0, 0]), sx * sy < 0, body,
                    how.astype(np.int8), None if metric else toolpath.unit, np.full(n, np.nan))
    plan = Plan(program)
    e_lines = np.flatnonzero(moves & ~np.isnan(program.row(E)))
    positions = _positions(program, toolpath, first, end, e_lines)
    e_new = positions["E_first"] if first < end else 0.0  # E as the transformed body counts it
    if e_factor != 1.0:
        e_new = _extrusion(program, toolpath, body, change.e, positions, e_factor, e_new)
    plan.text, plan.edits = _write(program, change)
    named = np.flatnonzero(moves)
    plan.named = {axis: named[~np.isnan(program.row(row)[named])] for row, axis in ((X, "X"), (Y, "Y"), (Z, "Z"))}
    plan.arcs = np.flatnonzero(arcs)
    e_job = positions["E_end"]
    if e_factor != 1.0 and not math.isclose(e_new, e_job, abs_tol=1e-9) and _absolute_e_follows(program, toolpath, end):
        plan.restore_e = e_job
    return plan


def _positions(program: Program, toolpath: Any, first: int, end: int, at: np.ndarray) -> dict[str, Any]:
    """The program position (X, Y, Z, E) each line of `at` finds, E after line `first - 1` and after `end - 1`."""
    kind = program.kind[:end]
    unit = toolpath.unit[:end]
    changes = np.flatnonzero(unit != np.concatenate(([1.0], unit[:-1])))
    units = [(int(i), float(unit[i - 1]) if i else 1.0, float(unit[i])) for i in changes]
    homes = np.zeros((3, end), bool)
    for line, rows in program.homes.items():
        if line < end:
            homes[rows, line] = True
    out: dict[str, Any] = {}
    for row, axis in ((X, "X"), (Y, "Y"), (Z, "Z"), (E, "E")):
        values = program.row(row)[:end]
        named = ((kind == MOVE) | (kind == G92)) & ~np.isnan(values)
        events = np.flatnonzero(named | homes[row] if row != E else named)
        relative = (toolpath.e_relative if axis == "E" else toolpath.xyz_relative)[events] & (kind[events] == MOVE)
        set_to = np.where(kind[events] == G28, 0.0, values[events])
        out[axis] = positions_after(events, set_to, relative, units, at, own_units=True)
        if axis == "E":
            first_end = positions_after(events, set_to, relative, units, np.array([first, end]))
            out["E_first"], out["E_end"] = float(first_end[0]), float(first_end[1])
    return out


def _extrusion(program: Program, toolpath: Any, body: np.ndarray, out: np.ndarray, positions: dict[str, Any],
               e_factor: float, e_new: float) -> float:
    """The E of each body move into `out`, the filament printing moves push scaled (not retracts or
    wipes); returns the body's last E. A G92 E starts both counts again from its value."""
    e = program.row(E)
    at = np.flatnonzero(body & ~np.isnan(e))
    is_move = program.kind[at] == MOVE
    moves = at[is_move]
    relative = toolpath.e_relative[moves]
    value = e[moves]
    delta = np.where(relative, value, value - positions["E"])
    relative_xyz = toolpath.xyz_relative[moves]
    moving = program.move[moves] >= 2
    for row, axis in ((X, "X"), (Y, "Y"), (Z, "Z")):
        word = program.row(row)[moves]
        target = np.where(relative_xyz, positions[axis] + word, word)
        moving |= ~np.isnan(word) & ~_isclose(target, positions[axis])
    delta = np.where((delta > 0) & moving, delta * e_factor, delta)
    steps = e[at]
    steps[is_move] = delta
    counted = running(steps, is_move, e_new)
    out[moves] = np.where(relative, delta, counted[is_move])
    return float(counted[-1]) if counted.size else e_new


def _absolute_e_follows(program: Program, toolpath: Any, end: int) -> bool:
    """Whether a move from line `end` on names an absolute E before a G92 E starts the count again."""
    kind = program.kind[end:]
    named = ~np.isnan(program.row(E)[end:])
    absolute = (kind == MOVE) & ~toolpath.e_relative[end:]
    decisive = np.flatnonzero(named & ((kind == G92) | absolute))
    return bool(decisive.size) and kind[decisive[0]] == MOVE


def _isclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """math.isclose(a, b, abs_tol=1e-9) for arrays, comparison for comparison."""
    with np.errstate(invalid="ignore"):
        diff = np.abs(b - a)
        near = (diff <= np.abs(1e-9 * b)) | (diff <= np.abs(1e-9 * a)) | (diff <= 1e-9)
        return (a == b) | (near & np.isfinite(a) & np.isfinite(b))


# -- writing ------------------------------------------------------------------------------------------


def _write(program: Program, change: Change) -> tuple[bytes | None, int]:
    """The new job and how many lines change in it (None and 0 when none does)."""
    out: list[bytes] = []
    edits = 0
    for lo, hi, words in program.chunks:
        text, count = _write_chunk(program, change, lo, hi, words)
        out.append(text)
        edits += count
    return (b"".join(out) if edits else None), edits


def _write_chunk(program: Program, change: Change, lo: int, hi: int, words: Words) -> tuple[bytes, int]:
    """Lines [lo, hi) with the words that change rewritten, and how many lines that is."""
    new = change.new(words.row, words.line, words.value)
    changed = ~np.isnan(new) & ~_isclose(new, words.value)
    edited = change.mirror & program.arc_command[lo:hi] & change.body[lo:hi]
    edited[words.line[changed] - lo] = True
    others: dict[int, bytes] = {}  # the lines Line rewrites (not plain moves), ending included
    for index in (lo + np.flatnonzero(~program.plain[lo:hi] & change.body[lo:hi])).tolist():
        line = program.parsed[index]
        made = _rewrite(line, _changes(program, change, index), change.mirror)
        if made is not None:
            edited[index - lo] = True
            others[index] = (made.raw + made.ending).encode("utf-8", "surrogateescape")
    if not edited.any():
        return program.data[int(program.offsets[lo]) : int(program.offsets[hi])], 0
    rewritten = program.plain[words.line] & edited[words.line - lo]
    plain_words = Words(words.line[rewritten], words.row[rewritten], np.where(changed, new, words.value)[rewritten])
    return write_lines(program, lo, hi, edited, plain_words, others, change.mirror), int(edited.sum())


def _changes(program: Program, change: Change, index: int) -> dict[str, float]:
    """The words of line `index` (one `Line` reads) that change, with their new values."""
    rows = np.array([row for row in program.rows if not math.isnan(program.rows[row][index])], np.int64)
    value = np.array([program.rows[row][index] for row in rows.tolist()])
    new = change.new(rows, np.full(rows.size, index), value)
    keep = ~np.isnan(new) & ~_isclose(new, value)
    return {LETTERS[row]: float(v) for row, v in zip(rows[keep].tolist(), new[keep].tolist(), strict=True)}


def _rewrite(line: Line, changes: dict[str, float], mirror: bool) -> Line | None:
    """The line with `changes`, a mirror's G2/G3 swapped; None when nothing changes."""
    if mirror and line.command in ("G2", "G3"):
        # A mirror turns clockwise into counter-clockwise: G2 and G3 swap.
        comment = line.comment
        made = Line.make("G3" if line.command == "G2" else "G2", {**line.words, **changes},
                         comment.strip() if comment is not None else None)
        return Line(made.raw, line.ending)
    return line.with_words(**changes) if changes else None


# -- checking and running -----------------------------------------------------------------------------


def measure(document: Any, plan: Plan, bed: dict[str, float] | None) -> Extent:
    """Where the transformed moves take the head, as the document model reads them (machine mm).

    Only the axes a move names count (a Z move does not re-check an X the start G-code left), plus
    the whole sweep of arcs.
    """
    toolpath = document.toolpath()
    extent = Extent()
    for axis, values in (("X", toolpath.x), ("Y", toolpath.y), ("Z", toolpath.z)):
        lines = plan.named.get(axis, np.zeros(0, np.int64))
        extent.add(axis, lines, values[lines], bed)
    sweeps = [(index, toolpath.arcs[index]) for index in plan.arcs.tolist() if index in toolpath.arcs]
    if sweeps:
        lines = np.concatenate([np.full(len(points), index) for index, points in sweeps])
        points = np.concatenate([points for _, points in sweeps])
        extent.add("X", lines, points[:, 0], bed)
        extent.add("Y", lines, points[:, 1], bed)
    return extent


def scale_translate(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Transform the job (or its print body); nothing changes unless the whole result fits the bed."""
    body = print_body(document) if settings.get("only_body", True) else None
    first, end = body if body is not None else (0, len(document))
    plan = transform(document, settings, first, end)
    bed = None
    if settings.get("check_bed", True):
        bed = {a: _number(settings, f"bed_{n}", d) for a, n, d in (("X", "x", 220), ("Y", "y", 220), ("Z", "z", 250))}
    with document.step("Scale and translate"):
        if plan.text is not None:
            document.assign(plan.text, "Scale and translate")
        extent = measure(document, plan, bed)
        if bed is not None and extent.first_outside is not None:
            index, axis = extent.first_outside
            raise ValueError(  # the step rolls the edits back
                f"Scale and translate: the result does not fit the bed: {axis} would span "
                f"{extent.low[axis]:.2f}..{extent.high[axis]:.2f} mm but the bed is 0..{bed[axis]:g} mm "
                f"(first outside: line {index + 1}: {plan.program.line(index).raw.strip()}). Change the scale or "
                "offsets, or the bed size."
            )
        if plan.restore_e is not None:
            document.insert(end, f"G92 E{format_number(plan.restore_e)} ; scriptdeck: the E the end G-code was written for")
    spans = ", ".join(
        f"{a} {extent.low[a]:.2f}..{extent.high[a]:.2f}" for a in "XYZ" if extent.low[a] <= extent.high[a]
    )
    if body is None:
        window.information(f"{plan.edits} lines transformed; the job now spans {spans or 'nothing'} mm")
    else:
        window.information(f"{plan.edits} lines of the print body (lines {first + 1}-{end}) transformed, start and "
                           f"end G-code unchanged; the part now spans {spans or 'nothing'} mm")
