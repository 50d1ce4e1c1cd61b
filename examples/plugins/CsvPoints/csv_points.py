"""The `csv` points format: rows of `x,y[,z]` ↔ straight G1 moves.

Open: each row is a point; the first point of a run is reached with a G0 travel, the rest
with G1 moves; an empty row starts a new run. A header row (`x,y,z`, any case and order) is
recognised; the delimiter (comma, semicolon, tab or spaces) is detected.
Save: the position after every move of the document, one row per point, as `x,y,z`.
Runs in a scriptdeck worker; uses only the document's public API.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

AXES = ("x", "y", "z")
_NUMERIC = re.compile(r"^[-+]?[.\d]")
MAX_ERRORS = 10  # past this a file is clearly not a points list; more messages would only bury the first


def _fmt(value: float, places: int) -> str:
    text = f"{value:.{places}f}".rstrip("0").rstrip(".") if places > 0 else f"{value:.0f}"
    return "0" if text in ("-0", "") else text


def _split(line: str) -> list[str]:
    if "\t" in line:
        return [c.strip() for c in line.split("\t")]
    if ";" in line:
        return [c.strip() for c in line.split(";")]
    if "," in line:
        return next(csv.reader([line]))
    return line.split()


def _header(cells: list[str]) -> dict[str, int] | None:
    names = [c.strip().lower() for c in cells]
    if "x" in names and "y" in names:
        return {axis: names.index(axis) for axis in AXES if axis in names}
    return None


def csv_to_gcode(
    text: str,
    settings: dict[str, Any],
    *,
    name: str = "points.csv",
    error: Callable[[str], None],
) -> list[str]:
    """G-code lines for a points CSV; problems go to `error` with their line number."""
    feed = float(settings.get("feed_rate", 1000.0))
    travel = float(settings.get("travel_rate", 3000.0))
    places = int(settings.get("decimals", 3))
    columns = {"x": 0, "y": 1, "z": 2}
    out = [f"; {name} converted by scriptdeck CsvPoints", "G21 ; millimetres", "G90 ; absolute positions"]
    new_run, errors, points = True, 0, 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            new_run = True
            continue
        if line.startswith("#"):
            continue
        cells = _split(line)
        if points == 0 and not _NUMERIC.match(cells[0]):  # a header comes before any point
            header = _header(cells)
            if header is not None:
                columns = header
                continue
        try:
            values = {axis: float(cells[i]) for axis, i in columns.items() if i < len(cells) and cells[i] != ""}
            if "x" not in values or "y" not in values:
                raise ValueError("needs at least an x and a y value")
        except ValueError as exc:
            errors += 1
            reason = "needs at least an x and a y value" if "needs" in str(exc) else f"not a number in {line!r}"
            error(f"{name}:{number}: {reason}")
            if errors >= MAX_ERRORS:
                error(f"{name}: stopped after {MAX_ERRORS} errors")
                break
            continue
        words = " ".join(f"{axis.upper()}{_fmt(values[axis], places)}" for axis in AXES if axis in values)
        if new_run:
            out.append(f"G0 {words} F{_fmt(travel, 0)}")
            new_run = False
        else:
            out.append(f"G1 {words} F{_fmt(feed, 0)}")
        points += 1
    if points == 0 and errors == 0:
        error(f"{name}: no points found (expected rows of x,y or x,y,z)")
    return out


Point3 = tuple[float, float, float]


def runs_to_csv(runs: Iterable[list[Point3]], settings: dict[str, Any]) -> str:
    """CSV text: a header row (if asked), one row per point, an empty row between runs."""
    places = int(settings.get("decimals", 3))
    with_z = bool(settings.get("include_z", True))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if settings.get("header", True):
        writer.writerow(["x", "y", "z"] if with_z else ["x", "y"])
    first = True
    for run in runs:
        if not first:
            buffer.write("\n")  # an empty row: `open` reads it as "lift and travel to the next point"
        first = False
        previous: tuple[str, ...] | None = None
        for x, y, z in run:
            row = (_fmt(x, places), _fmt(y, places)) + ((_fmt(z, places),) if with_z else ())
            if row != previous:  # a move that only changed E or F is not a new point
                writer.writerow(row)
                previous = row
    return buffer.getvalue()


def document_runs(document: Any) -> list[list[Point3]]:
    """The absolute positions (mm) the document draws through, split into runs at each travel.

    Tracks the modal state a plotter or printer job uses (G90/G91, M82/M83, G20/G21, G92, G28)
    from the document's parsed lines. A drawing move is G1/G2/G3 — and, in a job that extrudes,
    only one that adds filament; any other move is a travel and starts a new run at its end.
    A job with no drawing move at all (a list of probe points) gives one run of every end point.
    """
    pos = {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
    relative, relative_e, unit = False, False, 1.0
    extrudes = any(line.get("E", 0.0) for line in document if line.command == "G1")
    runs: list[list[Point3]] = []
    every: list[Point3] = []
    current: list[Point3] = []
    for line in document:
        command = line.command
        if command is None:
            continue
        if command in ("G90", "G91"):
            relative = relative_e = command == "G91"
        elif command in ("M82", "M83"):
            relative_e = command == "M83"
        elif command in ("G20", "G21"):
            unit = 25.4 if command == "G20" else 1.0
        elif command == "G92":
            for axis in pos:
                value = line.get(axis)
                if value is not None:
                    pos[axis] = value * (unit if axis != "E" else 1.0)
        elif command == "G28":
            for axis in [a for a in "XYZ" if a in line.words] or ["X", "Y", "Z"]:
                pos[axis] = 0.0
            current = []
        elif command in ("G0", "G1", "G2", "G3"):
            e_before, start = pos["E"], (pos["X"], pos["Y"], pos["Z"])
            for axis in pos:
                value = line.get(axis)
                if value is None:
                    continue
                scaled = value * (unit if axis != "E" else 1.0)
                is_relative = relative_e if axis == "E" else relative
                pos[axis] = pos[axis] + scaled if is_relative else scaled
            point = (pos["X"], pos["Y"], pos["Z"])
            every.append(point)
            if command != "G0" and (not extrudes or pos["E"] > e_before):
                if not current:
                    current = [start]
                    runs.append(current)
                current.append(point)
            else:
                current = []
    return runs if runs else ([every] if every else [])


def open_csv(window: Any, document: Any, file: Any, filename: str, import_export: Any, settings: dict[str, Any]) -> None:
    """Format service `open`: rows of points → G0/G1 moves appended to `document`."""
    raw = file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        import_export.error(f"{os.path.basename(filename)}: not UTF-8 text ({exc})")
        return
    failed: list[str] = []

    def error(message: str) -> None:
        failed.append(message)
        import_export.error(message)

    lines = csv_to_gcode(text, settings, name=os.path.basename(filename) or "points.csv", error=error)
    if not failed:
        document.append(lines)


def save_csv(window: Any, document: Any, file: Any, filename: str, import_export: Any, settings: dict[str, Any]) -> None:
    """Format service `save`: the points the document draws through → CSV rows."""
    runs = document_runs(document)
    if not runs:
        import_export.warning(f"{os.path.basename(filename)}: the document has no moves; writing only the header")
    file.write(runs_to_csv(runs, settings).encode("utf-8"))
