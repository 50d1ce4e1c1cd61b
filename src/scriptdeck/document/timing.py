"""Print-time estimate: trapezoid velocity profiles joined at junction-deviation corner speeds.

The model, per move (in file order, every G0/G1/G2/G3 that moves an axis or the extruder):

* cruise speed ``v`` = the modal feed rate F (mm/min ÷ 60); before any F, 25 mm/s (Marlin's default);
* acceleration ``a`` = M204 P (or S) for extruding moves, M204 T (or S) for travel, M204 R (or P/S)
  for extruder-only moves; before any M204, ``acceleration`` (default 1000 mm/s²);
* the speed at the corner between two moves follows Marlin's junction deviation:
  ``v_j² = a · jd · sin(θ/2) / (1 − sin(θ/2))`` where θ is the angle between the two directions
  (straight on → no limit, reversal → 0), capped by both moves' cruise speeds; ``jd`` defaults to
  0.013 mm. Extruder-only moves start and end at rest;
* the move accelerates from its entry speed to ``v``, cruises, and decelerates to its exit speed; when it
  is too short to reach ``v`` it peaks at ``√(a·L + (v0² + v1²)/2)``; when it cannot even change from
  entry to exit speed it is timed at their average.

Unlike firmware there is no look-ahead pass that lowers corner speeds a short move cannot reach, and
no jerk, max-feed-rate or max-acceleration limits: expect within ~10–20% of what the printer takes
for slicer output. Dwells (G4 P ms / S s) are added; heating waits (M109/M190) are not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_ACCELERATION", "DEFAULT_FEED_MM_S", "DEFAULT_JUNCTION_DEVIATION", "move_times"]

DEFAULT_ACCELERATION = 1000.0
DEFAULT_JUNCTION_DEVIATION = 0.013
DEFAULT_FEED_MM_S = 25.0
_MIN_SPEED = 0.1  # mm/s: F0 or a negative F would otherwise divide by zero


_BLOCK = 1 << 16  # moves per block: temporaries stay in cache and peak memory stays small


def move_times(
    length: np.ndarray,
    speed: np.ndarray,
    accel: np.ndarray,
    ux: np.ndarray,
    uy: np.ndarray,
    uz: np.ndarray,
    junction_deviation: float = DEFAULT_JUNCTION_DEVIATION,
) -> np.ndarray:
    """Seconds per move. (ux, uy, uz) are unit directions, all zero where a corner must stop."""
    count = length.size
    v = np.maximum(speed, _MIN_SPEED)
    a = np.maximum(accel, 1e-3)
    junction = np.zeros(count + 1)  # junction[k] = speed between move k-1 and move k
    for s in range(1, count, _BLOCK):
        e = min(s + _BLOCK, count)  # corners s..e-1, between moves k-1 and k
        p, c = slice(s - 1, e - 1), slice(s, e)
        dot = ux[p] * ux[c] + uy[p] * uy[c] + uz[p] * uz[c]
        # Marlin: cos θ = −dot, sin(θ/2) = √((1 − cos θ)/2); straight on gives 1 (no limit).
        sin_half = np.sqrt(np.clip(0.5 * (1.0 + dot), 0.0, 1.0))
        limit_sq = a[c] * junction_deviation * sin_half
        with np.errstate(divide="ignore"):
            limit_sq /= 1.0 - sin_half
        corner = np.minimum(np.minimum(v[p], v[c]), np.sqrt(limit_sq))
        still_p = (ux[p] == 0) & (uy[p] == 0) & (uz[p] == 0)
        still_c = (ux[c] == 0) & (uy[c] == 0) & (uz[c] == 0)
        corner[still_p | still_c] = 0.0
        junction[s:e] = corner
    times = np.empty(count)
    for s in range(0, count, _BLOCK):
        e = min(s + _BLOCK, count)
        vb, ab, lb = v[s:e], a[s:e], length[s:e]
        v0 = np.minimum(junction[s:e], vb)
        v1 = np.minimum(junction[s + 1 : e + 1], vb)
        cruise = lb - (2 * vb * vb - v0 * v0 - v1 * v1) / (2 * ab)
        t = (2 * vb - v0 - v1) / ab + np.maximum(cruise, 0.0) / vb
        short = cruise < 0
        if short.any():
            # Too short to reach v: accelerate to the peak speed and straight back down.
            L, A, s0, s1 = lb[short], ab[short], v0[short], v1[short]
            peak = np.sqrt(A * L + 0.5 * (s0 * s0 + s1 * s1))
            t_short = (2 * peak - s0 - s1) / A
            # Cannot even go from entry to exit speed: time it at their average.
            impossible = peak < np.maximum(s0, s1)
            t_short[impossible] = 2 * L[impossible] / (s0[impossible] + s1[impossible])
            t[short] = t_short
        times[s:e] = t
    return times
