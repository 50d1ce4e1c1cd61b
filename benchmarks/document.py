"""Benchmark: load + stats of a generated 1,000,000-line G-code job, against pygcode and gcodeparser.

Run: ``.venv/bin/python benchmarks/document.py [--lines N]``. Each measurement runs in its own
subprocess so its peak RSS (ru_maxrss) is its own, not the generator's or a peer's.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 2.0
TARGET_MB = 400.0


def generate(path: Path, lines: int, seed: int = 5) -> int:
    """Write a Cura-style job of about ``lines`` lines: layers, perimeters/infill, travels, retracts."""
    rng = random.Random(seed)
    out: list[str] = [
        ";FLAVOR:Marlin",
        ";TIME:6666",
        ";Filament used: 12.3456m",
        ";Layer height: 0.2",
        ";Generated with Cura_SteamEngine 5.6.0",
        "M140 S60",
        "M105",
        "M190 S60",
        "M104 S210",
        "M109 S210",
        "M82 ;absolute extrusion mode",
        "G28 ;Home",
        "G92 E0",
        "G1 Z2.0 F3000",
        "G1 X0.1 Y20 Z0.3 F5000.0",
        "G1 X0.1 Y200.0 Z0.3 F1500.0 E15",
        "G92 E0",
        "M204 S500",
        ";LAYER_COUNT:0",
    ]
    layer = 0
    written = len(out)
    x, y, e = 100.0, 100.0, 0.0
    with path.open("w", newline="\n") as fh:
        fh.write("\n".join(out) + "\n")
        while written < lines - 20:
            z = 0.3 + 0.2 * layer
            block = [f";LAYER:{layer}", "M107" if layer == 0 else "M106 S255", f"G0 F6000 X{x:.3f} Y{y:.3f} Z{z:.1f}"]
            block.append(";TYPE:WALL-OUTER")
            for segment in range(rng.randint(1200, 2400)):
                if segment % 300 == 299:  # retract, travel, unretract
                    e -= 5
                    block.append(f"G1 F2700 E{e:.5f}")
                    x, y = rng.uniform(20, 200), rng.uniform(20, 200)
                    block.append(f"G0 F6000 X{x:.3f} Y{y:.3f}")
                    e += 5
                    block.append(f"G1 F2700 E{e:.5f}")
                    block.append(";TYPE:FILL")
                    continue
                nx = min(220.0, max(0.0, x + rng.uniform(-4, 4)))
                ny = min(220.0, max(0.0, y + rng.uniform(-4, 4)))
                e += math.hypot(nx - x, ny - y) * 0.0333
                x, y = nx, ny
                block.append(f"G1 X{x:.3f} Y{y:.3f} E{e:.5f}")
            block.append(";MESH:NONMESH")
            fh.write("\n".join(block) + "\n")
            written += len(block)
            layer += 1
        tail = ["G1 F2700 E" + f"{e - 5:.5f}", "M140 S0", "M107", "G91", "G1 E-2 F2700", "G1 E-2 Z0.2 F2400",
                "G1 X5 Y5 F3000", "G1 Z10", "G90", "G1 X0 Y200", "M106 S0", "M104 S0", "M84",
                "M82 ;absolute extrusion mode", "M104 S0", ";End of Gcode"]
        fh.write("\n".join(tail) + "\n")
    return written + len(tail)
