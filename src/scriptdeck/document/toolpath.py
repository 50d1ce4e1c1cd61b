"""Interpreting a G-code program's moves: positions, modal state, layers, bounds, extrusion, time, tool changes.

Everything is computed for all lines at once with numpy (see ``scan.py``); only rare commands (arcs,
G28, G4, M204, tool changes) are read one by one. The rules are written out in docs/document.md.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from scriptdeck.document import timing
from scriptdeck.document.arcs import arc_points
from scriptdeck.document.fills import axis_positions, delta, fill, forward_fill
from scriptdeck.document.lines import STRING_ARGUMENT_COMMANDS, Line
from scriptdeck.document.scan import Scan, scan

if TYPE_CHECKING:
    from scriptdeck.document.preview import Preview

__all__ = ["Bounds", "Layer", "ModalState", "Stats", "ToolChange", "Toolpath", "analyse"]

_G, _M, _T = ord("G"), ord("M"), ord("T")
_TEXT_COMMANDS = np.array(sorted(float(c[1:]) for c in STRING_ARGUMENT_COMMANDS))  # all M: "M117 G91 hi"
# (literal to look for, what must follow it): bytes.find is memchr-fast, a regex over 30 MB is not.
_LAYER_MARKERS = {
    "cura": (b";LAYER:", re.compile(rb"-?\d+\s*$")),
    "prusaslicer": (b";LAYER_CHANGE", re.compile(rb"\s*$")),
    "simplify3d": (b"; layer ", re.compile(rb"\d+")),
}
_Z_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Bounds:
    """An axis-aligned box, in mm."""

    min_x: float
    min_y: float
    min_z: float
    max_x: float
    max_y: float
    max_z: float

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> Bounds | None:
        if not x.size:
            return None
        return cls(float(x.min()), float(y.min()), float(z.min()), float(x.max()), float(y.max()), float(z.max()))

    def contains(self, other: Bounds) -> bool:
        """True when ``other`` lies inside this box (edges included)."""
        return (self.min_x <= other.min_x and self.min_y <= other.min_y and self.min_z <= other.min_z
                and other.max_x <= self.max_x and other.max_y <= self.max_y and other.max_z <= self.max_z)


@dataclass(frozen=True)
class Layer:
    """One layer: its 0-based ``index``, print height ``z`` and line range [first_line, end_line)."""

    index: int
    z: float
    first_line: int
    end_line: int


@dataclass(frozen=True)
class ToolChange:
    """A switch to ``tool`` at ``line`` (0-based)."""

    line: int
    tool: int


@dataclass(frozen=True)
class Stats:
    """Summary figures of a program; ``to_json()`` for the dashboard and the CLI."""

    lines: int
    moves: int
    layers: int
    bounds: Bounds | None  # of extruding moves (what gets printed)
    travel_bounds: Bounds | None  # of every move's end point (where the head goes)
    extrusion_mm: float  # filament pushed by moves that extrude while moving (retract/unretract pairs excluded)
    estimated_seconds: float
    tool_changes: int
    layer_z: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: nested dicts, lists and numbers."""
        return asdict(self)

    def to_json(self) -> str:
        """JSON text of ``to_dict()``."""
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class ModalState:
    """The modes a line is read with, from ``Toolpath.state_at``; ``ModalState()`` is the state before line 0.

    ``xyz_relative``: G91 (X, Y, Z words are distances). ``e_relative``: E words are distances (M83,
    or a G91 no M82 came after). ``unit``: mm per file unit (25.4 after G20). ``feed``: mm/min, the
    last F word (on any line, converted from that line's units); None before the first, when the
    firmware's default applies (1500 mm/min in the time estimate). ``motion``: the last G0-G3, which
    a line of bare coordinates repeats.
    """

    xyz_relative: bool = False
    e_relative: bool = False
    unit: float = 1.0
    feed: float | None = None
    motion: str = "G1"


@dataclass
class Toolpath:
    """The interpreted program. Per-line arrays hold the position *after* that line, machine coordinates, mm.

    ``unit``, ``xyz_relative``, ``e_relative``, ``feed`` and ``motion`` hold each line's modal state
    (see ``ModalState`` and ``state_at``); they are read-only.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    e: np.ndarray
    is_move: np.ndarray  # G0-G3 lines (and bare coordinate lines continuing one)
    printing: np.ndarray  # moves that extrude while moving
    layers: list[Layer]
    layer_starts: np.ndarray  # first line of each layer
    tool_changes: list[ToolChange]
    arcs: dict[int, np.ndarray]  # arc line → (k, 3) points from its start to its end
    stats: Stats
    unit: np.ndarray  # mm per file unit, 25.4 after G20 (a metric file: one shared 1.0, no memory)
    xyz_relative: np.ndarray  # bool: G91
    e_relative: np.ndarray  # bool: M83, or a G91 no M82 came after
    feed: np.ndarray  # mm/min of the last F word; NaN before the first
    motion: np.ndarray  # int8: the last G0-G3 (0-3), 1 before any

    def state_at(self, line: int) -> ModalState:
        """The modal state ``line`` (0-based) is read with: after its own command and F.

        A line's modes come from its command, the first G/M/T word, as in Marlin; later words on the
        line are its parameters (``G1 X5 G91`` switches nothing, ``G91 G90`` is relative). This is the
        state the line leaves for the next one, like the positions: ``x[line]`` is where the line leaves
        the head. A line inserted before line ``i`` finds ``state_at(i - 1)`` (``ModalState()`` for
        ``i == 0``). Negative indices are refused, not counted from the end.

        >>> analyse(b"G91\\nG1 X1 F600\\nM82\\nG20\\n").state_at(3)
        ModalState(xyz_relative=True, e_relative=False, unit=25.4, feed=600.0, motion='G1')
        """
        count = self.x.size
        if not 0 <= line < count:
            lines = f"lines 0..{count - 1}" if count else "no lines"
            raise IndexError(f"state_at: line {line} is out of range: the toolpath has {lines}")
        feed = float(self.feed[line])
        return ModalState(bool(self.xyz_relative[line]), bool(self.e_relative[line]), float(self.unit[line]),
                          None if math.isnan(feed) else feed, f"G{self.motion[line]}")

    def layer_of_line(self, line: int) -> int:
        """The layer index holding ``line``, or -1 for lines before the first layer (start G-code)."""
        return int(np.searchsorted(self.layer_starts, line, side="right")) - 1

    def first_line_of_layer(self, layer: int) -> int:
        """The first line of layer ``layer`` (0-based)."""
        return self.layers[layer].first_line

    def layer_at_z(self, z: float) -> Layer | None:
        """The first layer printed at or above height ``z`` (what "pause at height" wants), or None."""
        for layer in self.layers:
            if layer.z >= z - 1e-9:
                return layer
        return None

    def layer_lines(self) -> np.ndarray:
        """The layer index of every line (-1 before the first layer)."""
        return np.searchsorted(self.layer_starts, np.arange(self.x.size), side="right") - 1

    def preview(self, max_segments: int = 200_000) -> Preview:
        """Per-layer polylines of the extruding moves, at most ``max_segments`` points in all."""
        from scriptdeck.document.preview import build_preview

        return build_preview(self, max_segments)


def analyse(
    data: bytes,
    *,
    acceleration: float = timing.DEFAULT_ACCELERATION,
    junction_deviation: float = timing.DEFAULT_JUNCTION_DEVIATION,
) -> Toolpath:
    """Interpret ``data`` (a whole program). Lines are indexed exactly as ``GcodeDocument`` indexes them."""
    sc = scan(data)
    n = sc.lines
    letter, number = sc.letter, sc.number
    is_g = letter == _G
    motion_cmd = is_g & np.isin(number, (0.0, 1.0, 2.0, 3.0))
    val = sc.values
    has_axis = ~(np.isnan(val["X"]) & np.isnan(val["Y"]) & np.isnan(val["Z"]) & np.isnan(val["E"]))
    is_move = motion_cmd | ((letter == 0) & has_axis)  # CNC style: "X10 Y5" continues the last G0-G3
    # The last G0-G3 (int8: 1 MB a million lines, kept for state_at); G1 before any.
    motions = np.concatenate((np.ones(1, np.int8), number[motion_cmd].astype(np.int8)))
    motion = motions[np.cumsum(motion_cmd, dtype=np.int32)]

    # Modal state from lines whose command is G20/G21/G90/G91/M82/M83 (sc.modal: a message "M117 G91 ok"
    # has command M117) and from F words, none in the text of M117 and the like (the scanner reads
    # words there: "M117 F99" sets no feed). Few M lines.
    text_lines = np.flatnonzero(letter == _M)
    text_lines = text_lines[np.isin(number[text_lines], _TEXT_COMMANDS)]
    val["F"][text_lines] = np.nan
    modal = sc.modal
    modal_lines = np.array([m[0] for m in modal], np.int64)
    names = [m[1] for m in modal]
    unit_ev = [i for i, name in enumerate(names) if name in ("G20", "G21")]
    unit = forward_fill(n, modal_lines[unit_ev], np.array([25.4 if names[i] == "G20" else 1.0 for i in unit_ev]), 1.0)
    xyz_ev = [i for i, name in enumerate(names) if name in ("G90", "G91")]
    xyz_rel = forward_fill(n, modal_lines[xyz_ev], np.array([float(names[i] == "G91") for i in xyz_ev]), 0.0) > 0
    # G90/G91 set the extruder too (Marlin); M82/M83 afterwards override it for E only.
    e_ev = [i for i, name in enumerate(names) if name in ("G90", "G91", "M82", "M83")]
    e_rel = forward_fill(n, modal_lines[e_ev], np.array([float(names[i] in ("G91", "M83")) for i in e_ev]), 0.0) > 0

    g92 = is_g & (number == 92.0)
    homed = {axis: np.zeros(n, bool) for axis in "XYZ"}
    special = np.flatnonzero(
        (is_g & np.isin(number, (4.0, 28.0))) | (letter == _T) | ((letter == _M) & np.isin(number, (6.0, 204.0)))
        | (is_move & (motion >= 2))
    )
    special_lines = _special_lines(data, sc, special)
    dwell = 0.0
    accel_print: list[tuple[int, float]] = []
    accel_travel: list[tuple[int, float]] = []
    accel_retract: list[tuple[int, float]] = []
    tool_changes: list[ToolChange] = []
    tool: int | None = None
    arc_lines: list[tuple[int, Line]] = []
    for index, line in special_lines:
        command = line.command
        if command == "G28":
            named = [a for a in "XYZ" if a in line.words]
            for axis in named or "XYZ":
                homed[axis][index] = True
        elif command == "G4":
            dwell += (line.get("P", 0.0) or 0.0) / 1000.0 + (line.get("S", 0.0) or 0.0)
        elif command == "M204":
            s, p, t, r = (line.get(k) for k in "SPTR")
            if p is not None or s is not None:
                accel_print.append((index, float(p if p is not None else s)))  # type: ignore[arg-type]
            if t is not None or s is not None:
                accel_travel.append((index, float(t if t is not None else s)))  # type: ignore[arg-type]
            if r is not None:
                accel_retract.append((index, float(r)))
        elif command is not None and (command.startswith("T") or command == "M6"):
            number_t = line.get("T") if command == "M6" else float(command[1:])
            if number_t is not None and not math.isnan(number_t):
                if tool is not None and int(number_t) != tool:
                    tool_changes.append(ToolChange(index, int(number_t)))
                tool = int(number_t)
        elif is_move[index]:
            arc_lines.append((index, line))

    # Positions: work coordinates (what the program names), then machine coordinates (G92 shifts).
    pos: dict[str, np.ndarray] = {}
    no_home = np.zeros(n, bool)
    metric = not unit_ev or bool((unit == 1.0).all())
    if metric:  # the usual case: one shared 1.0 (read-only) instead of 8 MB a million lines
        unit = np.broadcast_to(np.float64(1.0), (n,))
    for axis in "XYZE":
        pos[axis] = axis_positions(
            val[axis] if metric else val[axis] * unit, is_move, e_rel if axis == "E" else xyz_rel, g92,
            homed.get(axis, no_home),
        )
    x, y, z, e = pos["X"], pos["Y"], pos["Z"], pos["E"]
    f_values = val["F"] if metric else val["F"] * unit
    feed_line = fill(~np.isnan(f_values), f_values, math.nan)  # mm/min, kept for state_at
    # A million-line job holds ~8 MB per array: drop what is no longer needed to keep the peak low.
    del pos, val, sc.values, f_values
    dx, dy, dz, de = (delta(a) for a in (x, y, z, e))
    length = np.sqrt(dx * dx + dy * dy + dz * dz)
    arcs: dict[int, np.ndarray] = {}
    for index, line in arc_lines:
        start = (x[index - 1], y[index - 1], z[index - 1]) if index else (0.0, 0.0, 0.0)
        points = arc_points(line, start, (x[index], y[index], z[index]), clockwise=motion[index] == 2, unit=unit[index])
        if points is not None:
            arcs[index] = points
            length[index] = float(np.sqrt((np.diff(points, axis=0) ** 2).sum(axis=1)).sum())
    printing = is_move & (de > 1e-9) & (length > 0)

    layers = _layers(data, sc, z, printing, is_move & (dz != 0), n)
    layer_starts = np.array([layer.first_line for layer in layers], np.int64)

    moving = is_move & ((length > 0) | (de != 0))
    feed = feed_line[moving]
    np.nan_to_num(feed, copy=False, nan=timing.DEFAULT_FEED_MM_S * 60.0)
    feed /= 60.0
    m_len = length[moving]
    e_only = m_len == 0
    m_len[e_only] = np.abs(de[moving][e_only])
    m_print = printing[moving]
    m_accel = _events(n, accel_print, acceleration)[moving]
    if accel_travel:
        travel = ~m_print
        m_accel[travel] = _events(n, accel_travel, acceleration)[moving][travel]
    if accel_retract:
        retract = _events(n, accel_retract, math.nan)[moving]
        use = e_only & ~np.isnan(retract)
        m_accel[use] = retract[use]
    inverse = np.zeros(m_len.size)
    chord = length[moving]  # arcs: their arc length; the chord direction is close enough for corners
    np.divide(1.0, chord, out=inverse, where=chord > 0)
    del chord  # ~8 MB: gone before the largest step (move_times) to lower the peak
    ux, uy, uz = (d[moving] * inverse for d in (dx, dy, dz))
    del dx, dy, dz, inverse
    seconds = float(timing.move_times(m_len, feed, m_accel, ux, uy, uz, junction_deviation).sum()) + dwell

    stats = Stats(
        lines=n,
        moves=int(is_move.sum()),
        layers=len(layers),
        bounds=_bounds(printing, x, y, z, arcs, include_starts=True),
        travel_bounds=_bounds(is_move, x, y, z, arcs, include_starts=False),
        extrusion_mm=float(de[printing].sum()),
        estimated_seconds=seconds,
        tool_changes=len(tool_changes),
        layer_z=[layer.z for layer in layers],
    )
    for modes in (unit, xyz_rel, e_rel, feed_line, motion):
        modes.flags.writeable = False
    return Toolpath(x, y, z, e, is_move, printing, layers, layer_starts, tool_changes, arcs, stats,
                    unit, xyz_rel, e_rel, feed_line, motion)


def _events(n: int, events: list[tuple[int, float]], initial: float) -> np.ndarray:
    if not events:
        return np.full(n, initial)
    lines = np.array([ev[0] for ev in events], np.int64)
    return forward_fill(n, lines, np.array([ev[1] for ev in events], np.float64), initial)


def _special_lines(data: bytes, sc: Scan, indices: np.ndarray) -> list[tuple[int, Line]]:
    starts = np.concatenate(([0], sc.newlines + 1))
    out = []
    for i in indices.tolist():
        end = int(sc.newlines[i]) if i < sc.newlines.size else len(data)
        out.append((i, Line(data[int(starts[i]) : end].decode("utf-8", "surrogateescape").rstrip("\r"))))
    return out


def _bounds(
    lines: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, arcs: dict[int, np.ndarray], *, include_starts: bool
) -> Bounds | None:
    """Box of the end points of the ``lines`` mask (plus their start points and arc samples).

    Masked reductions (``min(where=)``) read the position arrays in place: gathering the picked
    points first would copy up to two million values per axis.
    """
    if not lines.any():
        return None
    pick = lines
    if include_starts:  # a move starts where the line before left the head (line 0: its own end)
        pick = lines.copy()
        pick[:-1] |= lines[1:]
    lows = [float(a.min(where=pick, initial=np.inf)) for a in (x, y, z)]
    highs = [float(a.max(where=pick, initial=-np.inf)) for a in (x, y, z)]
    for line, points in arcs.items():
        if lines[line]:
            lows = [min(lo, float(points[:, k].min())) for k, lo in enumerate(lows)]
            highs = [max(hi, float(points[:, k].max())) for k, hi in enumerate(highs)]
    return Bounds(lows[0], lows[1], lows[2], highs[0], highs[1], highs[2])


def _layers(data: bytes, sc: Scan, z: np.ndarray, printing: np.ndarray, z_moves: np.ndarray, n: int) -> list[Layer]:
    """Layers from slicer comments when the file has them, else from Z changes of extruding moves."""
    best: list[int] = []
    buffer = np.frombuffer(data, np.uint8)
    line_starts = np.concatenate(([0], sc.newlines + 1))
    line_starts = line_starts[line_starts < len(data)]
    # Markers sit at the start of a line: compare the literal's bytes there for all lines at once (one
    # gather per byte), then let the regex confirm the few hits, instead of searching 30 MB per literal.
    comments = line_starts[buffer[line_starts] == ord(";")]
    for literal, rest in _LAYER_MARKERS.values():
        hits = comments[comments + len(literal) <= len(data)]
        for i in range(1, len(literal)):
            hits = hits[buffer[hits + i] == literal[i]]
        found = []
        for at in hits.tolist():
            eol = data.find(b"\n", at)
            eol = len(data) if eol < 0 else eol
            if rest.match(data, at + len(literal), eol):
                found.append(at)
        if len(found) > len(best):
            best = found
    prints = np.flatnonzero(printing)
    if best:
        starts = np.searchsorted(sc.newlines, np.array(best, np.int64))  # newlines before = line index
    elif prints.size:
        pz = z[prints]
        new = np.ones(prints.size, bool)
        new[1:] = np.abs(np.diff(pz)) > _Z_TOLERANCE
        first_prints = np.flatnonzero(new)
        z_lines = np.flatnonzero(z_moves)
        starts_list = []
        for k, fp in enumerate(first_prints.tolist()):
            line = int(prints[fp])
            if k == 0:  # the last Z move that brought the head to the first layer
                at = int(np.searchsorted(z_lines, line, side="right")) - 1
                starts_list.append(int(z_lines[at]) if at >= 0 else line)
            else:  # the first Z move after the previous layer's last extrusion
                previous_last = int(prints[fp - 1])
                at = int(np.searchsorted(z_lines, previous_last, side="right"))
                starts_list.append(min(int(z_lines[at]), line) if at < z_lines.size else line)
        starts = np.array(starts_list, np.int64)
    else:
        return []
    ends = np.append(starts[1:], n)
    # Height of a layer: Z of its first extruding move, else Z where it starts.
    # One search per layer for its first extruding move (not one per extruding move for its layer).
    heights = z[starts].copy()
    if prints.size:
        first = prints[np.minimum(np.searchsorted(prints, starts), prints.size - 1)]
        has = (first >= starts) & (first < ends)
        heights[has] = z[first[has]]
    return [Layer(i, round(float(h), 6), int(s), int(e)) for i, (h, s, e) in enumerate(zip(heights, starts, ends, strict=True))]
