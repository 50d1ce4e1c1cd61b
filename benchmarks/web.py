"""Dashboard figures (issue 6), printed as measured values.

1. event latency: an automation script sets `script_status` (stamped with time.time() in the
   worker) → each of 20 SSE clients on /api/events receives the AutomationScriptStatusChanged
   frame; p50 and p99 over every (change, client) pair.
2. server time with 1,000 plugins installed: GET / (the dashboard page) and GET /api/plugins,
   wall time per request on loopback, median and p95 over 40 requests each; the plugin list's
   JSON is built once per discovery, so its first request is printed separately.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from scriptdeck.web.testing import DashboardServer

CLIENTS = 20
CHANGES = 100
STATUS_SCRIPT = f"""
import time
__script_id__ = "stamp"
__script_title__ = "Stamp"
class Stamp:
    def __init__(self, g, logger, settings):
        self.script_status = None
    def run(self):
        time.sleep(0.5)
        for i in range({CHANGES}):
            self.script_status = "%.6f" % time.time()
            time.sleep(0.01)
        return True, {{}}
__script_obj__ = Stamp
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def sse_client(url: str, headers: dict[str, str], ready: asyncio.Event, counter: list[int],
                     latencies: list[float], done: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url, headers=headers) as response:
        counter[0] += 1
        if counter[0] == CLIENTS:
            ready.set()
        seen = 0
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            received = time.time()
            env = json.loads(line[6:])
            if env["event"] == "AutomationScriptStatusChanged" and env["payload"]["status"]:
                latencies.append(received - float(env["payload"]["status"]))
                seen += 1
            if env["event"] == "AutomationScriptFinished" or seen >= CHANGES:
                break
    if counter[0]:
        done.set()


async def event_latency(server: DashboardServer) -> list[float]:
    ready, done = asyncio.Event(), asyncio.Event()
    counter, latencies = [0], []
    tasks = [asyncio.create_task(sse_client(server.url + "/api/events", server.auth_headers, ready, counter, latencies, done))
             for _ in range(CLIENTS)]
    await asyncio.wait_for(ready.wait(), 20)
    async with httpx.AsyncClient(base_url=server.url, headers=server.auth_headers) as client:
        r = await client.post("/api/runs", json={"service": "stamp"})
        r.raise_for_status()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return latencies


def make_plugins(root: Path, count: int) -> None:
    for i in range(count):
        folder = root / f"Bench{i:04d}"
        folder.mkdir(parents=True)
        (folder / "plugin.json").write_text(json.dumps({
            "name": f"Bench plugin {i}", "description": "generated for benchmarks/web.py", "version": 1,
            "engine": "python", "author": "bench", "icon": "theme:document-edit",
            "services": [{"type": "action", "label": f"Action {i}", "tooltip": "does nothing",
                          "script": {"module": "main", "function": "main", "settings": [
                              {"name": "x", "type": "float", "default": 1, "min": 0, "max": 10},
                              {"name": "mode", "type": "choice", "choices": ["a", "b", "c"]}]}}],
        }))
        (folder / "main.py").write_text("def main(window, document, settings):\n    pass\n")


def request_times(client: httpx.Client, path: str, n: int = 40) -> list[float]:
    client.get(path).raise_for_status()  # warm caches
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        scripts = base / "scripts"
        scripts.mkdir()
        (scripts / "stamp.py").write_text(STATUS_SCRIPT)
        with DashboardServer(base / "data1", [scripts], include_examples=False, watch_interval=0) as server:
            latencies = asyncio.run(event_latency(server))
        ms = [v * 1000 for v in latencies]
        print(f"event latency, script_status -> SSE frame, {CLIENTS} clients x {CHANGES} changes "
              f"({len(ms)} deliveries): p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms")

        plugins = base / "many"
        make_plugins(plugins, 1000)
        start = time.perf_counter()
        with DashboardServer(base / "data2", [plugins], include_examples=False, watch_interval=0, connect=False) as server:
            startup = time.perf_counter() - start
            with httpx.Client(base_url=server.url, headers=server.auth_headers) as client:
                start = time.perf_counter()
                count = len(client.get("/api/plugins").json()["plugins"])
                first = time.perf_counter() - start  # builds the JSON of this registry
                page = request_times(client, "/")
                api = request_times(client, "/api/plugins")
                size = len(client.get("/api/plugins").content)
        print(f"1,000 plugins: server start with discovery {startup:.2f} s; {count} plugins listed")
        print(f"  GET /              median {statistics.median(page) * 1000:.2f} ms, p95 {pct(page, 95) * 1000:.2f} ms")
        print(f"  GET /api/plugins   median {statistics.median(api) * 1000:.1f} ms, p95 {pct(api, 95) * 1000:.1f} ms "
              f"({size / 1024:.0f} KiB); first request after a (re)discovery {first * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
