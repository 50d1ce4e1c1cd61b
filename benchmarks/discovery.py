"""Benchmark: discover 1,000 plugins with `scriptdeck list --json`, against import-based discovery.

Run: ``.venv/bin/python benchmarks/discovery.py [--plugins N] [--runs R]``. Generates N/2 plugin
folders (plugin.json + a module) and N/2 automation script files, each importing its own helper
module that takes 5 ms to import. Every plugin module and helper writes a marker file when it is
imported, so the benchmark can prove scriptdeck imported none of them.

The peer is the original automation-scripts host's way: one process that imports every script
file with importlib and reads its magic variables (plugin folders are read as JSON by both).
Each measurement is a fresh process ("cold": nothing of it is cached in memory, and the peer
runs with -B so no .pyc from a previous run helps it).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.5
TARGET_RATIO = 10.0
IMPORT_COST = 0.005  # seconds each script's helper module spends being imported
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCRIPTDECK = BIN / "scriptdeck"

MANIFEST_MODULE = """\
open({marker!r}, "w").close()


def main(window, document, settings):
    window.information("plugin {index} ran with " + repr(settings))
"""

SCRIPT = '''\
"""Generated automation script {index}: prints a square."""

import os
import resource
import sys
from collections import OrderedDict

open({marker!r}, "w").close()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import slow_{index:04d}  # noqa: E402  (its import takes {cost} s, like a real dependency)

__script_id__ = "square_{index:04d}"
__script_title__ = "Square {index}"
__script_version__ = 1
__script_settings__ = OrderedDict([("size", 20.0), ("feed", 1200), ("passes", 2), ("home", True)])
__script_commands__ = lambda settings: ["M155 S2"]


class Square:
    def __init__(self, g, logger, settings):
        self.g = g
        self.settings = settings
        self.script_status = None

    def run(self):
        size = self.settings["size"]
        for _ in range(self.settings["passes"]):
            self.g.move(x=size)
            self.g.move(y=size)
            self.g.move(x=-size)
            self.g.move(y=-size)
        return True, {{}}


__script_obj__ = Square
'''

HELPER = """\
import time

open({marker!r}, "w").close()
time.sleep({cost})
"""

# The original host's discovery: import every script file, read its magic variables.
IMPORT_DISCOVERY = """\
import importlib.util, json, sys
from pathlib import Path

root = Path(sys.argv[1])
found = []
for folder in sorted(p for p in root.iterdir() if (p / "plugin.json").is_file()):
    found.append(json.loads((folder / "plugin.json").read_text())["name"])
for path in sorted(root.glob("*.py")):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    if hasattr(module, "__script_id__"):
        found.append((module.__script_id__, module.__script_title__, dict(module.__script_settings__)))
print(len(found))
"""

# Until `scriptdeck list` works in this checkout, the same discovery through the Python API.
REGISTRY_DISCOVERY = """\
import json, sys
from pathlib import Path
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.searchpath import Root

print(json.dumps(Registry.discover([Root(Path(sys.argv[1]).resolve(), "plugin-path")]).to_json()))
"""


# Where the time goes, in one fresh process (printed to help whoever optimises next).
BREAKDOWN = """\
import time
t0 = time.perf_counter()
import json, sys
from pathlib import Path
from scriptdeck.plugins.manifest import load_manifest
from scriptdeck.plugins.registry import scan_root
from scriptdeck.plugins.scriptfile import load_script_files
from scriptdeck.plugins.searchpath import Root
t1 = time.perf_counter()
root = Root(Path(sys.argv[1]).resolve(), "plugin-path")
folders, scripts = scan_root(root)
t2 = time.perf_counter()
manifests = [load_manifest(f, root.path) for f in folders]
t3 = time.perf_counter()
found = [p for p in load_script_files(scripts, root.path) if p is not None]
t4 = time.perf_counter()
json.dumps({"plugins": [p.to_json() for p in manifests + found]}, indent=2)
t5 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "scan": t2 - t1, "manifests": t3 - t2, "scripts": t4 - t3, "json": t5 - t4}))
"""


def generate(root: Path, markers: Path, count: int) -> None:
    (root / "lib").mkdir(parents=True)
    for index in range(count // 2):
        folder = root / f"Plugin{index:04d}"
        folder.mkdir()
        manifest = {
            "name": f"Plugin {index}",
            "version": 1,
            "engine": "python",
            "author": "bench",
            "services": [
                {
                    "type": "action",
                    "label": f"Run plugin {index}",
                    "script": {
                        "module": "mod",
                        "function": "main",
                        "settings": [{"name": "scale", "type": "float", "default": 1.0, "min": 0.1, "max": 10}],
                    },
                }
            ],
        }
        (folder / "plugin.json").write_text(json.dumps(manifest, indent=2))
        (folder / "mod.py").write_text(MANIFEST_MODULE.format(marker=str(markers / f"plugin-{index}"), index=index))
    for index in range(count - count // 2):
        marker = str(markers / f"script-{index}")
        (root / f"square_{index:04d}.py").write_text(SCRIPT.format(index=index, marker=marker, cost=IMPORT_COST))
        helper = HELPER.format(marker=str(markers / f"helper-{index}"), cost=IMPORT_COST)
        (root / "lib" / f"slow_{index:04d}.py").write_text(helper)


CPU: list[float] = []  # CPU seconds (user + sys) of each timed() child, in call order


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of one run; its CPU seconds go to CPU (robust when the machine is shared)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, done


def scriptdeck_command(root: Path, data: Path) -> tuple[list[str], str]:
    """`scriptdeck list --json` when the CLI works here, else the Registry API in a subprocess."""
    cli = [str(SCRIPTDECK), "--data-dir", str(data), "--no-examples", "--plugin-path", str(root), "list", "--json"]
    # The probe uses a data dir of its own, so the first timed run really starts with no cache.
    probe_cli = [*cli[:2], str(data.parent / "probe-data"), *cli[3:]]
    probe = subprocess.run(probe_cli, capture_output=True, text=True, check=False)
    try:
        json.loads(probe.stdout)
        return cli, "scriptdeck list --json"
    except ValueError:
        reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"note: `scriptdeck list --json` unusable here ({reason}); timing Registry.discover instead")
        return [sys.executable, "-c", REGISTRY_DISCOVERY, str(root)], "Registry.discover (subprocess)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="scriptdeck-bench-"))
    try:
        root, markers, data = work / "plugins", work / "markers", work / "data"
        markers.mkdir()
        data.mkdir()
        generate(root, markers, args.plugins)

        # pip compiles an installed package's modules to bytecode; this editable checkout gets
        # the same once here, so no run pays for compiling scriptdeck itself (the environment
        # may forbid writing bytecode as modules are imported, e.g. PYTHONDONTWRITEBYTECODE).
        compileall.compile_dir(str(REPO / "src" / "scriptdeck"), quiet=1)
        command, label = scriptdeck_command(root, data)
        # Each run: a cold discovery on a data dir of its own (no cache yet), then a warm one
        # reusing the cache it wrote. Medians over the runs: one cold sample is at the mercy of
        # whatever else the machine does in that half second.
        cold: list[float] = []
        cold_cpu: list[float] = []
        ours: list[float] = []
        ours_cpu: list[float] = []
        for run in range(args.runs):
            run_data = data / f"run-{run}"
            run_command = [*command[:2], str(run_data), *command[3:]] if command[1] == "--data-dir" else command
            for samples, cpu in ((cold, cold_cpu), (ours, ours_cpu)):
                seconds, done = timed(run_command)
                cpu.append(CPU[-1])
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
                samples.append(seconds)
        listing = json.loads(done.stdout)["plugins"]
        ok = sum(1 for p in listing if p["status"] == "ok")
        imported_by_us = sorted(os.listdir(markers))
        parts = json.loads(timed([sys.executable, "-c", BREAKDOWN, str(root)])[1].stdout)

        peer: list[float] = []
        peer_cpu: list[float] = []
        for _ in range(args.runs):
            for marker in markers.iterdir():
                marker.unlink()
            seconds, done = timed([sys.executable, "-B", "-c", IMPORT_DISCOVERY, str(root)])
            peer_cpu.append(CPU[-1])
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            peer.append(seconds)
        imported_by_peer = len(os.listdir(markers))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cold_s = statistics.median(cold)
    warm_s = statistics.median(ours)
    peer_s = statistics.median(peer)
    print(f"load average (1 min) / CPUs       : {os.getloadavg()[0]:.2f} / {os.cpu_count()}")
    print(f"plugins generated                 : {args.plugins} ({args.plugins // 2} folders, "
          f"{args.plugins - args.plugins // 2} script files, {IMPORT_COST * 1000:.0f} ms import each)")
    print(f"scriptdeck ({label}), cold cache : median {cold_s:.3f} s wall over {len(cold)} runs "
          f"(min {min(cold):.3f}), {statistics.median(cold_cpu):.3f} s CPU; listed {len(listing)}, {ok} ok")
    print(f"scriptdeck ({label}), warm cache : median {warm_s:.3f} s wall over {len(ours)} runs, "
          f"{statistics.median(ours_cpu):.3f} s CPU")
    print("note: scriptdeck's own modules were compiled to bytecode first, as pip does for an installed "
          "copy; plugin modules never are (the peer compiles each one it imports, as the original host did)")
    print(f"import-based discovery (peer)     : median {peer_s:.3f} s wall, {statistics.median(peer_cpu):.3f} s CPU")
    for name, ours_s in (("cold", cold_s), ("warm", warm_s)):
        ratio = peer_s / ours_s
        print(f"{name}: ratio peer/scriptdeck {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: "
              f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}); wall target < {TARGET_SECONDS} s: "
              f"{'PASS' if ours_s < TARGET_SECONDS else 'MISS'}")
    print("in-process breakdown              : " + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items()))
    print(f"plugin modules imported by scriptdeck: {len(imported_by_us)} "
          f"(the peer imported {imported_by_peer} per run)")
    failed = len(imported_by_us) > 0 or len(listing) != args.plugins or ok != args.plugins
    if failed:
        print(f"FAIL: markers written {imported_by_us[:5]}, {len(listing)} listed, {ok} ok", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
