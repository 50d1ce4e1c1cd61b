"""Action "Scale and translate": transform every X/Y/Z of a job, refusing a result that leaves the bed.

Absolute coordinates become `value * scale + offset`; relative ones (G91) are only scaled;
arc centres (I/J) and radii (R) are scaled, and a mirror (one negative XY scale)
swaps G2 and G3. With `scale_extrusion` the E values are multiplied
by the change in path length times the change in layer height (sqrt(|sx·sy|)·sz), so a scaled
print keeps its line width. The whole job is transformed and checked first; the document is
changed only when every move is inside the bed, so a failed run leaves it as it was.
Runs in a scriptdeck worker; uses only the document's public API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MOVES = ("G0", "G1", "G2", "G3")


@dataclass
class Extent:
    """The smallest and largest value each axis reaches (mm), and the first move outside the bed."""

    low: dict[str, float] = field(default_factory=lambda: {"X": math.inf, "Y": math.inf, "Z": math.inf})
    high: dict[str, float] = field(default_factory=lambda: {"X": -math.inf, "Y": -math.inf, "Z": -math.inf})
    first_outside: tuple[int, str, str] | None = None  # (line index, axis, line text)

    def add(self, axis: str, value: float, index: int, text: str, bed: dict[str, float] | None) -> None:
        self.low[axis] = min(self.low[axis], value)
        self.high[axis] = max(self.high[axis], value)
        if bed is not None and self.first_outside is None and not (-1e-6 <= value <= bed[axis] + 1e-6):
            self.first_outside = (index, axis, text)


def _number(settings: dict[str, Any], name: str, default: float) -> float:
    return float(settings.get(name, default))


def transform(lines: list[tuple[int, Any]], settings: dict[str, Any]) -> tuple[list[tuple[int, Any]], Extent]:
    """The edits (index, new Line) and the extent of the transformed moves; raises ValueError on misuse.

    `lines` are (index, Line) pairs as `document.lines()` gives them.
    """
    scale = {a: _number(settings, f"scale_{a.lower()}", 1.0) for a in "XYZ"}
    offset = {a: _number(settings, f"offset_{a.lower()}", 0.0) for a in "XYZ"}
    if any(s == 0 for s in scale.values()):
        raise ValueError("Scale and translate: a scale of 0 would flatten the job; use a positive scale")
    e_factor = math.sqrt(abs(scale["X"] * scale["Y"])) * abs(scale["Z"]) if settings.get("scale_extrusion", True) else 1.0
    bed = None
    if settings.get("check_bed", True):
        bed = {a: _number(settings, f"bed_{n}", d) for a, n, d in (("X", "x", 220), ("Y", "y", 220), ("Z", "z", 250))}
    relative, unit = False, 1.0
    position: dict[str, float | None] = {"X": None, "Y": None, "Z": None}  # mm; None until first known
    extent = Extent()
    edits: list[tuple[int, Any]] = []
    for index, line in lines:
        command = line.command
        if command is None:
            continue
        if command in ("G90", "G91"):
            relative = command == "G91"
            continue
        if command in ("G20", "G21"):
            unit = 25.4 if command == "G20" else 1.0
            continue
        if command == "G28":
            for axis in [a for a in "XYZ" if a in line.words] or ["X", "Y", "Z"]:
                position[axis] = 0.0
            continue
        if command not in (*MOVES, "G92"):
            continue
        words = line.words
        changes: dict[str, float] = {}
        for axis in "XYZ":
            value = words.get(axis)
            if value is None:
                continue
            if relative and command != "G92":
                changes[axis] = value * scale[axis]
                current = position[axis]
                position[axis] = None if current is None else current + changes[axis] * unit
            else:
                changes[axis] = value * scale[axis] + offset[axis] / unit
                position[axis] = changes[axis] * unit
        if command in ("G2", "G3") and any(words.get(k) is not None for k in ("I", "J", "R")):
            if not math.isclose(abs(scale["X"]), abs(scale["Y"])):
                raise ValueError(
                    f"Scale and translate: line {index + 1} is an arc ({line.raw.strip()}); arcs stay arcs only "
                    "when X and Y are scaled alike — use the same scale_x and scale_y"
                )
            for key in ("I", "J", "R"):
                value = words.get(key)
                if value is not None:
                    changes[key] = value * abs(scale["X"]) if key == "R" else value * scale["X" if key == "I" else "Y"]
        e_value = words.get("E")
        if e_value is not None and e_factor != 1.0:
            changes["E"] = e_value * e_factor
        if command in MOVES:
            for axis in "XYZ":
                value = position[axis]
                if value is not None and axis in changes:  # only what this move places (not the home position)
                    extent.add(axis, value, index, line.raw.strip(), bed)
        mirrored_arc = command in ("G2", "G3") and scale["X"] * scale["Y"] < 0
        if mirrored_arc:
            # A mirror turns clockwise into counter-clockwise: G2 and G3 swap.
            comment = line.comment
            made = type(line).make("G3" if command == "G2" else "G2", {**words, **changes},
                                   comment.strip() if comment is not None else None)
            edits.append((index, made))
        elif changes:
            edits.append((index, line.with_words(**changes)))
    if bed is not None and extent.first_outside is not None:
        index, axis, text = extent.first_outside
        raise ValueError(
            f"Scale and translate: the result does not fit the bed: {axis} would span "
            f"{extent.low[axis]:.2f}..{extent.high[axis]:.2f} mm but the bed is 0..{bed[axis]:g} mm "
            f"(first outside: line {index + 1}: {text}). Change the scale or offsets, or the bed size."
        )
    return edits, extent


def scale_translate(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Transform the job; nothing changes unless the whole result fits the bed."""
    edits, extent = transform(list(document.lines()), settings)
    for index, line in edits:
        document.replace(index, line)
    spans = ", ".join(
        f"{a} {extent.low[a]:.2f}..{extent.high[a]:.2f}" for a in "XYZ" if extent.low[a] <= extent.high[a]
    )
    window.information(f"{len(edits)} lines transformed; the job now spans {spans or 'nothing'} mm")
