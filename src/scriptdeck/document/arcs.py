"""G2/G3 arcs (I/J centre and R radius forms) approximated by short chords for bounds, time and preview."""

from __future__ import annotations

import math

import numpy as np

from scriptdeck.document.lines import Line

__all__ = ["CHORD_TOLERANCE", "arc_points"]

CHORD_TOLERANCE = 0.02  # mm: the chords stray at most this far from the true arc
_MAX_SEGMENTS = 720


def arc_points(
    line: Line,
    start: tuple[float, float, float],
    end: tuple[float, float, float],
    *,
    clockwise: bool,
    unit: float = 1.0,
) -> np.ndarray | None:
    """Points (k, 3) from ``start`` to ``end`` along the arc of ``line``; None when it names no arc.

    I/J are offsets of the centre from the start (always relative, as in Marlin); R > 0 takes the short
    way round, R < 0 the long way. Start equal to end with I/J is a full circle. Z moves linearly (helix).
    """
    sx, sy, sz = (float(v) for v in start)
    ex, ey, ez = (float(v) for v in end)
    i, j, r = line.get("I"), line.get("J"), line.get("R")
    if i is not None or j is not None:
        cx, cy = sx + (i or 0.0) * unit, sy + (j or 0.0) * unit
    elif r is not None:
        r *= unit
        dx, dy = ex - sx, ey - sy
        chord = math.hypot(dx, dy)
        if chord == 0 or abs(r) * 2 < chord - 1e-9:
            return None  # the radius cannot span the chord: firmware rejects it too
        h = math.sqrt(max(r * r - chord * chord / 4, 0.0))
        # The centre sits on the chord's perpendicular bisector; which side depends on direction and sign of R.
        side = -1.0 if clockwise else 1.0
        if r < 0:
            side = -side
        cx = sx + dx / 2 - side * h * dy / chord
        cy = sy + dy / 2 + side * h * dx / chord
    else:
        return None
    radius = math.hypot(sx - cx, sy - cy)
    if radius == 0:
        return None
    a0 = math.atan2(sy - cy, sx - cx)
    a1 = math.atan2(ey - cy, ex - cx)
    sweep = (a0 - a1) if clockwise else (a1 - a0)
    sweep %= 2 * math.pi
    if sweep < 1e-9:
        sweep = 2 * math.pi if (i is not None or j is not None) else 0.0
    if sweep == 0:
        return np.array([start, end], dtype=np.float64)
    step = 2 * math.acos(max(-1.0, 1 - CHORD_TOLERANCE / radius)) if radius > CHORD_TOLERANCE else math.pi / 2
    count = int(min(_MAX_SEGMENTS, max(2, math.ceil(sweep / max(step, 1e-6)))))
    t = np.linspace(0.0, 1.0, count + 1)
    angles = a0 + (-sweep if clockwise else sweep) * t
    points = np.stack((cx + radius * np.cos(angles), cy + radius * np.sin(angles), sz + (ez - sz) * t), axis=1)
    points[-1] = (ex, ey, ez)  # land exactly where the program says, whatever rounding did
    return points
