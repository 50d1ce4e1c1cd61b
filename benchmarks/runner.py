"""Runtime latencies, each printed beside its target (issue 3).

1. a trivial action: `Host.run` call → result, 200 runs (median, p95); target < 150 ms
2. cancel of a script spinning in `while True: pass`: `cancel()` → run ended; target < 0.5 s
3. script_status: the script sets it → a bus subscriber sees AutomationScriptStatusChanged; target < 50 ms
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from scriptdeck.host import Host
from scriptdeck.runtime.events import Envelope

ACTION = "def main(window, document, settings):\n    pass\n"
SPIN = """
__script_id__ = "spin"
__script_title__ = "Spin"
class Spin:
    def __init__(self, g, logger, settings):
        self.script_status = None
    def run(self):
        self.script_status = "spinning"
        while True:
            pass
__script_obj__ = Spin
"""
STATUS = """
import time
__script_id__ = "status"
__script_title__ = "Status"
class Status:
    def __init__(self, g, logger, settings):
        self.script_status = None
    def run(self):
        for i in range(50):
            self.script_status = repr(time.time())
            time.sleep(0.01)
        return True, {}
__script_obj__ = Status
"""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _line(name: str, measured: str, target: str, ok: bool) -> None:
    print(f"{name:<44} {measured:<28} target {target:<10} {'ok' if ok else 'MISSED'}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "plugins"
        (root / "Noop").mkdir(parents=True)
        (root / "Noop" / "plugin.json").write_text(
            '{"engine": "python", "services": [{"type": "action", "label": "Noop",'
            ' "script": {"module": "noop", "function": "main"}}]}'
        )
        (root / "Noop" / "noop.py").write_text(ACTION)
        (root / "spin.py").write_text(SPIN)
        (root / "status.py").write_text(STATUS)
        with Host(Path(tmp) / "data", [root], include_examples=False, machine_url="record://") as host:
            host.run("Noop")  # forkserver and spare worker up
            times = []
            for _ in range(200):
                start = time.perf_counter()
                result = host.run("Noop")
                times.append(time.perf_counter() - start)
                assert result.ok, result.error
            median, p95 = statistics.median(times) * 1000, _p95(times) * 1000
            _line("trivial action, Host.run → result (200)", f"median {median:.1f} ms, p95 {p95:.1f} ms",
                  "< 150 ms", p95 < 150)

            cancels = []
            for _ in range(10):
                spinning = threading.Event()
                unsubscribe = host.events.subscribe(
                    lambda _e, flag=spinning: flag.set(), {"AutomationScriptStatusChanged"})
                run_id = host.start("spin")
                spinning.wait(10)
                unsubscribe()
                start = time.perf_counter()
                host.cancel(run_id)
                outcome = host.wait(run_id).outcome
                cancels.append(time.perf_counter() - start)
                assert outcome == "cancelled", outcome
            _line("cancel of `while True: pass` (10)",
                  f"median {statistics.median(cancels) * 1000:.1f} ms, max {max(cancels) * 1000:.1f} ms",
                  "< 500 ms", max(cancels) < 0.5)

            delays: list[float] = []

            def seen(envelope: Envelope) -> None:
                delays.append(time.time() - float(envelope["payload"]["status"]))

            unsubscribe = host.events.subscribe(seen, {"AutomationScriptStatusChanged"})
            host.run("status")
            unsubscribe()
            _line(f"script_status → subscriber ({len(delays)})",
                  f"median {statistics.median(delays) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms",
                  "< 50 ms", max(delays) < 0.05)


if __name__ == "__main__":
    main()
