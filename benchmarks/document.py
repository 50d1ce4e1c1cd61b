"""Benchmark: load + stats of a generated 1,000,000-line G-code job, against pygcode and gcodeparser.

Run: ``.venv/bin/python benchmarks/document.py [--lines N]``. Each measurement runs in its own
subprocess so its peak RSS (ru_maxrss) is its own, not the generator's or a peer's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
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


def _load() -> str:
    """The 1/5/15-minute load averages: other processes on the machine stretch wall time, not CPU time."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _prefix(path: Path, lines: int) -> str:
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return "".join(line for _, line in zip(range(lines), fh, strict=False))


def measure(which: str, path: Path, lines: int) -> dict[str, float]:
    """Run in a fresh subprocess: time one parser on ``lines`` lines of ``path``, report peak RSS."""
    baseline = _rss_mb()
    if which == "ours":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from scriptdeck.document import GcodeDocument

        baseline = _rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        doc = GcodeDocument.from_file(path)
        stats = doc.stats()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss = _rss_mb()
        t = time.perf_counter()
        preview = doc.preview(max_segments=200_000)
        preview_s = time.perf_counter() - t
        return {"seconds": wall, "cpu_seconds": cpu, "rss_mb": rss, "baseline_mb": baseline, "lines": stats.lines,
                "layers": stats.layers, "extrusion_mm": stats.extrusion_mm, "estimated_h": stats.estimated_seconds / 3600,
                "preview_seconds": preview_s, "preview_points": preview.points, "peak_after_preview_mb": _rss_mb()}
    text = _prefix(path, lines)
    if which == "gcodeparser":
        from gcodeparser import parse_gcode_lines

        baseline = _rss_mb()
        t = time.perf_counter()
        parsed = list(parse_gcode_lines(text, include_comments=True))
        return {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb(), "baseline_mb": baseline, "lines": len(parsed)}
    if which == "pygcode":
        from pygcode import Line

        baseline = _rss_mb()
        t = time.perf_counter()
        parsed_lines = [Line(raw) for raw in text.splitlines()]
        return {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb(), "baseline_mb": baseline,
                "lines": len(parsed_lines)}
    if which == "pygcode-machine":  # positions, like our stats: pygcode's Machine follows modal state
        from pygcode import Line, Machine

        machine = Machine()
        baseline = _rss_mb()
        t = time.perf_counter()
        count = 0
        for raw in text.splitlines():
            block = Line(raw).block
            try:
                machine.process_block(block)
            except Exception:  # M-codes pygcode does not model; parsing is what we time
                pass
            count += 1
        return {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb(), "baseline_mb": baseline, "lines": count}
    raise SystemExit(f"unknown parser {which!r}")


def _run(which: str, path: Path, lines: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", which, str(path), "--lines", str(lines)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--measure", nargs=2, metavar=("PARSER", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (median reported)")
    parser.add_argument("--gcodeparser-lines", type=int, default=100_000, help="prefix timed for gcodeparser")
    parser.add_argument("--pygcode-lines", type=int, default=40_000, help="prefix timed for pygcode")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]), args.lines)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.gcode"
        t = time.perf_counter()
        lines = generate(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {lines:,} lines, {size_mb:.1f} MB in {time.perf_counter() - t:.1f} s ({path.name})")

        runs = [_run("ours", path, lines) for _ in range(args.repeat)]
        ours = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        wall = statistics.median(r["seconds"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        print(f"\nscriptdeck GcodeDocument.from_file + stats(), {args.repeat} runs in fresh subprocesses:")
        each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(f"  wall  {each} s  -> median {wall:.2f} s"
              f"   (CPU {ours['cpu_seconds']:.2f} s, one thread; load average {_load()} on {os.cpu_count()} cores)")
        print(f"  peak RSS {rss:.0f} MB (whole process; {ours['baseline_mb']:.0f} MB of it is Python + numpy before loading)")
        print(f"  found {ours['lines']:,.0f} lines, {ours['layers']:.0f} layers, {ours['extrusion_mm']:.0f} mm filament,"
              f" estimated {ours['estimated_h']:.1f} h")
        print(f"  preview(max_segments=200_000): {ours['preview_seconds']:.2f} s, {ours['preview_points']:,.0f} points"
              f" (peak RSS after preview {ours['peak_after_preview_mb']:.0f} MB; not part of the target)")
        ok_t, ok_m = wall < TARGET_SECONDS, rss < TARGET_MB
        print(f"  target: < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB peak -> time {'MET' if ok_t else 'MISSED'},"
              f" memory {'MET' if ok_m else 'MISSED'}")

        print("\npeers (parse only; neither computes layers, bounds or time), each in a fresh subprocess:")
        peers = [("gcodeparser", "gcodeparser.parse_gcode_lines", args.gcodeparser_lines),
                 ("pygcode", "pygcode.Line per line", args.pygcode_lines),
                 ("pygcode-machine", "pygcode Line + Machine.process_block (positions)", args.pygcode_lines // 8)]
        for key, label, prefix in peers:
            prefix = min(prefix, lines)
            r = _run(key, path, prefix)
            scale = lines / r["lines"]
            full = r["seconds"] * scale
            grown = (r["rss_mb"] - r["baseline_mb"]) * scale + r["baseline_mb"]
            how = "measured" if scale == 1 else f"EXTRAPOLATED x{scale:.1f} from the first {r['lines']:,.0f} lines (timed {r['seconds']:.2f} s)"
            print(f"  {label}: {full:.1f} s for {lines:,} lines [{how}]")
            print(f"      peak RSS {r['rss_mb']:.0f} MB on that prefix; ~{grown:.0f} MB linearly scaled to the whole file")
            print(f"      ratio: {full / wall:.0f}x our load + stats time")


if __name__ == "__main__":
    main()
