"""A compact, decimated preview of the extruding moves for the web dashboard: per-layer XY polylines."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scriptdeck.document.toolpath import Bounds, Toolpath

__all__ = ["Preview", "PreviewLayer", "build_preview"]


@dataclass
class PreviewLayer:
    """The polylines of one layer; each path is flat ``[x0, y0, x1, y1, ...]`` in mm (3 decimals)."""

    index: int  # -1: extrusion before the first layer (a purge line before ";LAYER:0")
    z: float
    first_line: int
    paths: list[list[float]]


@dataclass
class Preview:
    """What ``GcodeDocument.preview()`` returns; ``to_json()`` is ready for a browser canvas or WebGL."""

    layers: list[PreviewLayer]
    points: int  # points kept, all layers
    source_points: int  # points before decimation
    stride: int  # 1 = nothing dropped; k = every k-th point of each path kept (ends always kept)
    bounds: Bounds | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, numbers)."""
        return asdict(self)

    def to_json(self) -> str:
        """Compact JSON of ``to_dict()``."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


def build_preview(tp: Toolpath, max_segments: int = 200_000) -> Preview:
    """Polylines of consecutive extruding moves, split at travels and layer changes, decimated so the
    total number of points is at most ``max_segments`` (every path keeps its two ends)."""
    max_points = max(int(max_segments), 2)
    moves = np.flatnonzero(tp.is_move)
    printing = tp.printing[moves]
    prints = moves[printing]
    if not prints.size:
        return Preview([], 0, 0, 1, tp.stats.bounds)
    layer_of = np.searchsorted(tp.layer_starts, prints, side="right") - 1
    # A path starts at an extruding move whose previous move did not extrude, or in a new layer.
    previous_printing = np.concatenate(([False], printing[:-1]))[printing]
    new_path = ~previous_printing
    new_path[1:] |= layer_of[1:] != layer_of[:-1]
    new_path[0] = True
    firsts = np.flatnonzero(new_path)

    # Points: each extruding move's end, with its path's start point (where the head was) in front,
    # and the inner points of arcs before their end.
    before = np.maximum(prints[firsts] - 1, 0)
    insert_at = [firsts]
    insert_x, insert_y = [np.where(prints[firsts] > 0, tp.x[before], 0.0)], [np.where(prints[firsts] > 0, tp.y[before], 0.0)]
    if tp.arcs:
        position = {int(line): k for k, line in enumerate(prints.tolist()) if int(line) in tp.arcs}
        for line, k in position.items():
            inner = tp.arcs[line][1:-1]
            insert_at.append(np.full(len(inner), k))
            insert_x.append(inner[:, 0])
            insert_y.append(inner[:, 1])
    at = np.concatenate(insert_at)
    order = np.argsort(at, kind="stable")  # path starts were listed first, so they stay before arc points
    xs = np.insert(tp.x[prints], at[order], np.concatenate(insert_x)[order])
    ys = np.insert(tp.y[prints], at[order], np.concatenate(insert_y)[order])
    # Where each path begins in the new arrays: its first move index plus everything inserted before it.
    inserted_before = np.searchsorted(at[order], firsts, side="left")
    path_start = firsts + inserted_before
    total = xs.size
    stride = 1
    keep = np.ones(total, bool)
    marker = np.zeros(total, bool)
    marker[path_start] = True
    path_of = np.cumsum(marker) - 1
    if total > max_points:
        # Every path keeps its last point besides the stride's picks: budget for those first.
        budget = max_points - firsts.size
        stride = math.ceil(total / budget) if budget > 0 else total
        local = np.arange(total) - path_start[path_of]
        is_last = np.zeros(total, bool)
        is_last[np.append(path_start[1:], total) - 1] = True
        keep = (local % stride == 0) | is_last
        if int(keep.sum()) > max_points:  # too many tiny paths: keep whole paths, evenly spaced
            every = math.ceil(2 * firsts.size / max_points)
            keep &= (path_of % every == 0) & ((local == 0) | is_last)
    xs, ys, path_of = xs[keep], ys[keep], path_of[keep]
    flat = np.round(np.stack((xs, ys), axis=1), 3).ravel()
    bounds_idx = np.flatnonzero(np.diff(path_of)) + 1
    paths = [chunk.tolist() for chunk in np.split(flat, bounds_idx * 2)]
    path_ids = path_of[np.concatenate(([0], bounds_idx))] if xs.size else np.zeros(0, np.int64)
    layers: dict[int, PreviewLayer] = {}
    for path, pid in zip(paths, path_ids.tolist(), strict=True):
        line = int(prints[firsts[pid]])
        index = int(layer_of[firsts[pid]])
        if index not in layers:
            z = tp.layers[index].z if index >= 0 else float(tp.z[line])
            first = tp.layers[index].first_line if index >= 0 else line
            layers[index] = PreviewLayer(index, z, first, [])
        layers[index].paths.append(path)
    return Preview(list(layers.values()), int(xs.size), total, stride, tp.stats.bounds)
