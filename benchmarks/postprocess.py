"""Benchmark: the PostProcess action "Scale and translate" on a generated 500,000-line sliced job.

Run: ``.venv/bin/python benchmarks/postprocess.py [--lines N] [--repeat R] [--no-previous]``. A worker
runs every action in a process of its own, so each run here is a fresh process too: it reads the job
into a GcodeDocument, loads the plugin module and calls its entry point, and only that is timed, with
the document model's analysis before and after the edits (the worker's imports are done before its
run, so they are here). Settings are typical: scale X/Y 1.1, move by 5 mm, print body only,
extrusion scaled, bed checked.

The previous implementation (line by line with `Line`, before the numpy rewrite) is timed once the
same way, loaded from git at PREVIOUS when git has that commit (~20 s; --no-previous skips it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 3.0
ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugins" / "PostProcess"
PREVIOUS = "9b086854eacad8050e0940d4e374d621df880379"  # the last commit with the line-by-line version
SETTINGS = {"scale_x": 1.1, "scale_y": 1.1, "offset_x": 5.0, "offset_y": 5.0}


def generate(path: Path, lines: int, seed: int = 7) -> int:
    """Write a Cura-style job of about ``lines`` lines: start G-code, layers of walls and infill closed by
    ;TIME_ELAPSED, retracts with a G91 Z hop and a travel, a G2 arc now and then, end G-code."""
    rng = random.Random(seed)
    out = [";FLAVOR:Marlin", ";Generated with Cura_SteamEngine 5.6.0", "M140 S60", "M104 S210", "M190 S60",
           "M109 S210", "M82 ;absolute extrusion mode", "G28 ;Home", "G92 E0", "G1 Z2.0 F3000",
           "G1 X0.1 Y20 Z0.3 F5000.0", "G1 X0.1 Y200.0 Z0.3 F1500.0 E15", "G92 E0", ";LAYER_COUNT:0"]
    x, y, e, layer = 100.0, 100.0, 0.0, 0
    while len(out) < lines - 20:
        z = 0.3 + 0.2 * layer
        out += [f";LAYER:{layer}", "M106 S255" if layer else "M107", f"G0 F6000 X{x:.3f} Y{y:.3f} Z{z:.1f}",
                ";TYPE:WALL-OUTER"]
        for segment in range(rng.randint(1200, 2400)):
            if segment % 300 == 299:
                e -= 5
                x, y = rng.uniform(30, 170), rng.uniform(30, 170)
                out += [f"G1 F2700 E{e:.5f}", "G91", "G1 Z0.4", "G90", f"G0 F6000 X{x:.3f} Y{y:.3f}", "G91",
                        "G1 Z-0.4", "G90"]
                e += 5
                out += [f"G1 F2700 E{e:.5f}", ";TYPE:FILL", "G1 F1500"]
                continue
            nx = min(170.0, max(30.0, x + rng.uniform(-4, 4)))
            ny = min(170.0, max(30.0, y + rng.uniform(-4, 4)))
            e += math.hypot(nx - x, ny - y) * 0.0333
            if segment % 500 == 250:
                out.append(f"G2 X{nx:.3f} Y{ny:.3f} I{(nx - x) / 2:.3f} J{(ny - y) / 2:.3f} E{e:.5f}")
            else:
                out.append(f"G1 X{nx:.3f} Y{ny:.3f} E{e:.5f}")
            x, y = nx, ny
        out.append(f";TIME_ELAPSED:{layer * 61.5:.6f}")
        layer += 1
    out += [f"G1 F2700 E{e - 5:.5f}", "M140 S0", "M107", "G91", "G1 E-2 F2700", "G1 E-2 Z0.2 F2400",
            "G1 X5 Y5 F3000", "G1 Z10", "G90", "G1 X0 Y200", "M106 S0", "M104 S0", "M84",
            "M82 ;absolute extrusion mode", "M104 S0", ";End of Gcode"]
    path.write_bytes(("\n".join(out) + "\n").encode())
    return len(out)


class Window:
    """The `window` an action is given: keeps the last message."""

    said = ""

    def information(self, message: str, title: str = "") -> None:
        self.said = message


def measure(folder: Path, job: Path) -> dict[str, object]:
    """In a fresh process: one run of the plugin in `folder` on `job` (wall seconds, message, output hash)."""
    from scriptdeck.document import GcodeDocument
    from scriptdeck.plugins.manifest import load_manifest
    from scriptdeck.runtime.isolation import load_module

    plugin = load_manifest(PLUGIN, PLUGIN.parent)
    settings = {**plugin.services[1].settings_for(None).defaults(), **SETTINGS}
    document = GcodeDocument.from_file(job)
    window = Window()
    start = time.perf_counter()
    module = load_module(folder.name, folder, "scale_translate", folder / "scale_translate.py")
    module.scale_translate(window, document, settings)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "said": window.said, "sha256": hashlib.sha256(document.to_bytes()).hexdigest()}


def _run(folder: Path, job: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--measure", str(folder), str(job)],
                         check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def previous_plugin(tmp: Path) -> Path | None:
    """The line-by-line implementation from git in a folder of its own, or None without git or the commit."""
    folder = tmp / "PostProcessPrevious"
    folder.mkdir()
    for name in ("scale_translate.py", "gcode_state.py"):
        try:
            text = subprocess.run(["git", "-C", str(ROOT), "show", f"{PREVIOUS}:examples/plugins/PostProcess/{name}"],
                                  check=True, capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        (folder / name).write_bytes(text)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the current implementation (median reported)")
    parser.add_argument("--no-previous", action="store_true", help="do not time the previous implementation")
    parser.add_argument("--measure", nargs=2, metavar=("PLUGIN", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.gcode"
        lines = generate(job, args.lines)
        print(f"generated {lines:,} lines, {job.stat().st_size / 1e6:.1f} MB; settings {SETTINGS} (others default)")
        runs = [_run(PLUGIN, job) for _ in range(args.repeat)]
        wall = statistics.median(float(r["seconds"]) for r in runs)  # type: ignore[arg-type]
        each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"Scale and translate, {args.repeat} runs in fresh processes: {each} s -> median {wall:.2f} s,"
              f" {lines / wall:,.0f} lines/s (load average {load} on {os.cpu_count()} cores)")
        print(f"  {runs[0]['said']}")
        print(f"  target: < {TARGET_SECONDS:.0f} s -> {'PASS' if wall < TARGET_SECONDS else 'FAIL'}")
        if args.no_previous:
            return
        folder = previous_plugin(Path(tmp))
        if folder is None:
            print(f"previous implementation ({PREVIOUS[:7]}): not in git here, not timed")
            return
        old = _run(folder, job)
        seconds = float(old["seconds"])  # type: ignore[arg-type]
        same = "the same bytes" if old["sha256"] == runs[0]["sha256"] else "DIFFERENT bytes"
        print(f"previous implementation ({PREVIOUS[:7]}, line by line), 1 run: {seconds:.2f} s,"
              f" {lines / seconds:,.0f} lines/s, {same}; ratio {seconds / wall:.1f}x")


if __name__ == "__main__":
    main()
