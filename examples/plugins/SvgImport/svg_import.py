"""SVG → G-code for a pen plotter or a laser: every visible path, transformed, flattened, Y-flipped.

The `open` function of the `svg` format service. It runs in a scriptdeck worker process and
only uses the document's public editing API (`document.append`). The geometry work is in
`svg_to_gcode`, a pure function, so it can be tested and reused without a host.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import svgelements

MM_PER_PX = 25.4 / 96  # svgelements reports user units as CSS px at 96 per inch
MAX_DEPTH = 16  # 2**16 pieces per curve is far below any sane tolerance; stops runaway recursion

Point = tuple[float, float]


def gcode_lines(text: str) -> list[str]:
    """A setting holding G-code: one or more lines, separated by newlines, `\\n` or `|`."""
    text = text.replace("\\n", "\n").replace("|", "\n")
    return [part.strip() for part in text.splitlines() if part.strip()]


def _fmt(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _flatten(segment: Any, tolerance_px: float) -> list[Point]:
    """Points along a curve (its end included, its start not) no farther than the tolerance from it.

    Adaptive: split an interval while the curve at its quarter points strays from the chord.
    Checking three points, not just the middle, catches S-shaped pieces whose middle sits on
    the chord.
    """

    def at(t: float) -> Point:
        p = segment.point(t)
        return (float(p.x), float(p.y))

    def deviation(a: Point, b: Point, p: Point) -> float:
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = math.hypot(dx, dy)
        if length == 0:
            return math.hypot(p[0] - a[0], p[1] - a[1])
        return abs(dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / length

    out: list[Point] = []

    def split(t0: float, p0: Point, t1: float, p1: Point, depth: int) -> None:
        probes = [at(t0 + (t1 - t0) * f) for f in (0.25, 0.5, 0.75)]
        if depth < 2 or (depth < MAX_DEPTH and max(deviation(p0, p1, q) for q in probes) > tolerance_px):
            tm = (t0 + t1) / 2
            pm = probes[1]
            split(t0, p0, tm, pm, depth + 1)
            split(tm, pm, t1, p1, depth + 1)
        else:
            out.append(p1)

    split(0.0, at(0.0), 1.0, at(1.0), 0)
    return out


def polylines(svg: svgelements.SVG, tolerance_px: float) -> Iterator[list[Point]]:
    """Each subpath of each visible shape as a list of points in SVG px (transforms applied)."""
    for element in svg.elements():
        if not isinstance(element, svgelements.Shape):
            continue
        if element.values.get("visibility") in ("hidden", "collapse"):
            continue
        path = abs(svgelements.Path(element))  # abs() applies the element's transform
        current: list[Point] = []
        for segment in path:
            if isinstance(segment, svgelements.Move):
                if len(current) > 1:
                    yield current
                current = [(float(segment.end.x), float(segment.end.y))]
            elif isinstance(segment, svgelements.Line | svgelements.Close):
                if segment.end is None:
                    continue
                if not current:
                    current = [(float(segment.start.x), float(segment.start.y))]
                current.append((float(segment.end.x), float(segment.end.y)))
            else:  # CubicBezier, QuadraticBezier, Arc
                if not current:
                    current = [(float(segment.start.x), float(segment.start.y))]
                current.extend(_flatten(segment, tolerance_px))
        if len(current) > 1:
            yield current


def _dedupe(points: list[Point]) -> list[Point]:
    # A closing segment onto the start point, or a zero-length piece, would emit an idle G1.
    out = points[:1]
    for p in points[1:]:
        if abs(p[0] - out[-1][0]) > 1e-9 or abs(p[1] - out[-1][1]) > 1e-9:
            out.append(p)
    return out


def svg_to_gcode(
    data: bytes,
    settings: dict[str, Any],
    *,
    name: str = "drawing.svg",
    warn: Callable[[str], None] = lambda message: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> list[str]:
    """G-code lines (without line endings) drawing every path of an SVG document.

    Coordinates: mm, origin at the page's bottom-left corner, Y up (SVG's Y points down), then
    multiplied by `scale`. Raises ValueError for an unreadable SVG or one with nothing to draw.
    """
    scale = float(settings.get("scale", 1.0))
    tolerance = float(settings.get("curve_tolerance", 0.1))
    feed = float(settings.get("feed_rate", 1500.0))
    travel = float(settings.get("travel_rate", 3000.0))
    pen_up = gcode_lines(str(settings.get("pen_up", "G0 Z2")))
    pen_down = gcode_lines(str(settings.get("pen_down", "G0 Z0")))
    if scale <= 0 or tolerance <= 0 or feed <= 0 or travel <= 0:
        raise ValueError("scale, curve_tolerance, feed_rate and travel_rate must be greater than 0")
    try:
        svg = svgelements.SVG.parse(io.BytesIO(data))
    except Exception as exc:  # ElementTree.ParseError and svgelements' own errors alike
        raise ValueError(f"{name}: not a readable SVG document: {exc}") from exc

    for element in svg.elements():
        if isinstance(element, svgelements.Text):
            warn(f"{name}: text is not drawn; convert it to paths in your editor (Inkscape: Path > Object to Path)")
            break
    for element in svg.elements():
        if isinstance(element, svgelements.Image):
            warn(f"{name}: embedded images are not drawn; only vector paths are")
            break

    mm = MM_PER_PX * scale
    tolerance_px = tolerance / mm
    # The page height places the origin at the bottom-left corner; a drawing without a page size
    # (no width/height/viewBox) is flipped about its own bounding box instead.
    page_height = svg.height if svg.height else None
    shapes = [s for s in (_dedupe(p) for p in polylines(svg, tolerance_px)) if len(s) > 1]
    if not shapes:
        raise ValueError(f"{name}: the drawing has no visible paths to convert")
    if page_height is None:
        page_height = max(y for shape in shapes for _, y in shape)

    def machine(p: Point) -> str:
        return f"X{_fmt(p[0] * mm)} Y{_fmt((page_height - p[1]) * mm)}"

    out = [
        f"; {name} converted by scriptdeck SvgImport",
        f"; scale {_fmt(scale)}, curve tolerance {_fmt(tolerance)} mm, {len(shapes)} paths",
        "G21 ; millimetres",
        "G90 ; absolute positions",
        *pen_up,
    ]
    progress(0, len(shapes))
    for index, shape in enumerate(shapes, 1):
        out.append(f"G0 {machine(shape[0])} F{_fmt(travel)}")
        out.extend(pen_down)
        first = True
        for point in shape[1:]:
            out.append(f"G1 {machine(point)}" + (f" F{_fmt(feed)}" if first else ""))
            first = False
        out.extend(pen_up)
        progress(index, len(shapes))
    out.append("; end of drawing")
    return out


def open_svg(window: Any, document: Any, file: Any, filename: str, import_export: Any, settings: dict[str, Any]) -> None:
    """Format service `open`: read the SVG from `file`, append its G-code to `document`."""
    data = file.read()

    def progress(done: int, total: int) -> None:
        if done == 0:
            import_export.progress_max_changed(total)
        import_export.progress(done)

    try:
        lines = svg_to_gcode(data, settings, name=os.path.basename(filename) or "drawing.svg", warn=import_export.warning, progress=progress)
    except ValueError as exc:
        import_export.error(str(exc))
        return
    document.append(lines)
