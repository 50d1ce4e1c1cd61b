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
    v = np.maximum(speed, _MIN_SPEED)
    a = np.maximum(accel, 1e-3)
    count = length.size
    junction = np.zeros(count + 1)  # junction[k] = speed between move k-1 and move k
    if count > 1:
        dot = ux[:-1] * ux[1:] + uy[:-1] * uy[1:] + uz[:-1] * uz[1:]
        still = (ux == 0) & (uy == 0) & (uz == 0)
        stop = still[:-1] | still[1:]
        # Marlin: cos θ = −dot, sin(θ/2) = √((1 − cos θ)/2); straight on gives 1 (no limit).
        sin_half = np.sqrt(np.clip(0.5 * (1.0 + dot), 0.0, 1.0))
        limit_sq = np.full(count - 1, np.inf)
        bend = sin_half < 0.999999
        limit_sq[bend] = a[1:][bend] * junction_deviation * sin_half[bend] / (1.0 - sin_half[bend])
        corner = np.minimum(np.minimum(v[:-1], v[1:]), np.sqrt(limit_sq))
        corner[stop] = 0.0
        junction[1:-1] = corner
    v0 = np.minimum(junction[:-1], v)
    v1 = np.minimum(junction[1:], v)
    v_sq, v0_sq, v1_sq = v * v, v0 * v0, v1 * v1
    cruise = length - (2 * v_sq - v0_sq - v1_sq) / (2 * a)
    times = (2 * v - v0 - v1) / a + np.maximum(cruise, 0.0) / v
    short = cruise < 0
    if short.any():
        # Too short to reach v: accelerate to the peak speed and straight back down.
        L, A, s0, s1 = length[short], a[short], v0[short], v1[short]
        peak = np.sqrt(A * L + 0.5 * (s0 * s0 + s1 * s1))
        t_short = (2 * peak - s0 - s1) / A
        # Cannot even go from entry to exit speed: time it at their average.
        impossible = peak < np.maximum(s0, s1)
        t_short[impossible] = 2 * L[impossible] / (s0[impossible] + s1[impossible])
        times[short] = t_short
    return times
