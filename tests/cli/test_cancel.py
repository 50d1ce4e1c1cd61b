"""Ctrl-C and SIGTERM on `scriptdeck run` and `scriptdeck print`: the abort sequence reaches the firmware."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scriptdeck.machine.virtual import VirtualOptions
from scriptdeck.machine.virtual_pty import PtyPrinter

pytestmark = [pytest.mark.timeout(90), pytest.mark.skipif(sys.platform == "win32", reason="ptys and signals")]

SCRIPT = '''
__script_id__ = "slow_moves"
__script_title__ = "Slow moves"


class SlowMoves:
    def __init__(self, g, logger, settings):
        self.g = g
        self.logger = logger

    def run(self):
        self.g.write("M104 S200")
        for i in range(200):
            self.g.write(f"G1 X{i % 50}")
        self.logger.info("all moves sent")
        return True, {}


__script_obj__ = SlowMoves
'''


@pytest.fixture
def printer() -> Iterator[PtyPrinter]:
    with PtyPrinter(VirtualOptions(buffer=4, move_ms=50)) as p:
        yield p


def _scriptdeck(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HOME": str(tmp_path / "home"), "SCRIPTDECK_HOME": str(tmp_path / "data")}
    env.pop("SCRIPTDECK_PLUGIN_PATH", None)
    return subprocess.Popen([sys.executable, "-m", "scriptdeck", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_moves(printer: PtyPrinter, count: int) -> None:
    deadline = time.monotonic() + 30
    while sum(line.startswith("G1") for line in printer.firmware.log) < count:
        assert time.monotonic() < deadline, printer.firmware.log[-5:]
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_cancelled_run_sends_m410_and_the_abort_lines(tmp_path: Path, printer: PtyPrinter,
                                                        sig: signal.Signals) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "slow_moves.py").write_text(SCRIPT)
    proc = _scriptdeck(tmp_path, "--plugin-path", str(plugins), "run", "slow_moves", "--machine", printer.path,
                       "--abort-line", "M104 S0", "--abort-line", "M140 S0")
    _wait_for_moves(printer, 5)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGINT)  # impatient: a second Ctrl-C must not cut the abort short
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "slow_moves: cancelled" in err and "Traceback" not in err, err
    log = printer.firmware.log
    assert sum(line.startswith("G1") for line in log) < 200
    after = log[log.index("M410"):] if "M410" in log else []
    assert after and "M104 S0" in after and "M140 S0" in after, log[-8:]


def test_a_print_cancelled_with_two_ctrl_c_still_sends_the_abort_lines(tmp_path: Path,
                                                                        printer: PtyPrinter) -> None:
    job = tmp_path / "job.gcode"
    job.write_text("".join(f"G1 X{i % 50} Y{i % 30}\n" for i in range(2000)))
    proc = _scriptdeck(tmp_path, "print", str(job), "--machine", printer.path, "--abort-line", "M104 S0")
    _wait_for_moves(printer, 20)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "cancelled after" in err, err
    log = printer.firmware.log
    assert "M410" in log and "M104 S0" in log[log.index("M410"):], log[-8:]
