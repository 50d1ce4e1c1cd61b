"""Streaming benchmark: scriptdeck's sender against mecode's Printer, over real pseudo-terminals.

Firmware runs in its own process (scriptdeck's `virtual-printer --pty`, or the independent
../shared/bench/fakemarlin.py), so the host CPU measured here (getrusage of this process,
all threads) is the sender's alone. Prints, for each comparison of issue 4: measured,
peer, ratio, target.

    python benchmarks/streaming.py            # 20,000 lines, 1,000 round trips (the issue's figures)
    BENCH_LINES=2000 python benchmarks/streaming.py   # quicker
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import serial
from mecode.printer import Printer

from scriptdeck.machine import Machine, frame

ROOT = Path(__file__).resolve().parent.parent
FAKEMARLIN = ROOT.parent / "shared" / "bench" / "fakemarlin.py"
LINES = int(os.environ.get("BENCH_LINES", "20000"))
ROUND_TRIPS = int(os.environ.get("BENCH_ROUND_TRIPS", "1000"))
# At 115200 baud the link allows ~270 lines/s: a rate, so fewer lines measure it as well.
BAUD_LINES = int(os.environ.get("BENCH_BAUD_LINES", str(min(LINES, 5000))))


def gcode(n: int) -> list[str]:
    return [f"G1 X{100 + i % 100:.3f} Y{50 + i % 50:.3f} E{(i % 7) * 0.01:.4f}" for i in range(n)]


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Result:
    lines: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.lines / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu / self.lines * 1000


@contextmanager
def firmware(cmd: list[str]) -> Iterator[str]:
    """Start a firmware process that prints its pty path first; stop it with SIGTERM."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        yield first.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def virtual(*args: str) -> list[str]:
    return [sys.executable, "-m", "scriptdeck", "virtual-printer", "--pty", *args]


def fakemarlin(*args: str) -> list[str]:
    return [sys.executable, str(FAKEMARLIN), *args]


def run_scriptdeck(port: str, flow: str, lines: list[str]) -> Result:
    m = Machine(port, flow=flow, temp_interval=0, start_timeout=0.3, ack_timeout=30)
    m.connect()
    try:
        with m.lease("bench") as lease:
            t0, c0 = time.perf_counter(), cpu()
            stream = lease.stream(lines, len(lines))
            stream.finished.wait()
            t1, c1 = time.perf_counter(), cpu()
            if stream.error is not None:
                raise stream.error
        return Result(len(lines), t1 - t0, c1 - c0)
    finally:
        m.disconnect()


def scriptdeck_round_trips(port: str, n: int) -> Result:
    m = Machine(port, temp_interval=0, start_timeout=0.3)
    m.connect()
    try:
        with m.lease("bench") as lease:
            t0, c0 = time.perf_counter(), cpu()
            for _ in range(n):
                lease.get_response("M105")
            return Result(n, time.perf_counter() - t0, cpu() - c0)
    finally:
        m.disconnect()


@contextmanager
def mecode_printer(port: str) -> Iterator[Printer]:
    p = Printer(port, 115200)
    s = serial.Serial(port, 115200, timeout=1)
    p.connect(s)  # with a serial object mecode does not wait for "start" (fakemarlin never says it)
    p.start()
    p.get_response("M110 N0")  # numbers from N1, like a fresh board
    try:
        yield p
    finally:
        p.disconnect()
        s.close()


def run_mecode(port: str, lines: list[str]) -> Result:
    with mecode_printer(port) as p:
        base = len(p.responses)
        t0, c0 = time.perf_counter(), cpu()
        for line in lines:
            p.sendline(line)
        while len(p.responses) < base + len(lines):
            time.sleep(0.005)  # the benchmark's own wait; negligible next to mecode's threads
        return Result(len(lines), time.perf_counter() - t0, cpu() - c0)


def mecode_round_trips(port: str, n: int) -> Result:
    with mecode_printer(port) as p:
        t0, c0 = time.perf_counter(), cpu()
        for _ in range(n):
            p.get_response("M105")
        return Result(n, time.perf_counter() - t0, cpu() - c0)


def bare_loop(port: str, lines: list[str]) -> Result:
    """The floor of one-line-in-flight sending: write a pre-framed line, block until its ``ok``.

    No protocol at all (no parsing, resends, timeouts or threads): what a round trip through
    the kernel costs this process on this machine, so the ping-pong figure can be read against it.
    """
    framed = [frame(i + 1, line) for i, line in enumerate(lines)]
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        os.write(fd, b"M110 N0\n")
        pending = b""
        while b"ok" not in pending:
            pending += os.read(fd, 4096)
        t0, c0 = time.perf_counter(), cpu()
        for data in framed:
            os.write(fd, data)
            pending = os.read(fd, 4096)
            while not pending.endswith(b"\n"):
                pending += os.read(fd, 4096)
        return Result(len(lines), time.perf_counter() - t0, cpu() - c0)
    finally:
        os.close(fd)


def row(name: str, measured: float, peer: float, unit: str, target: str, ok: Callable[[float], bool]) -> None:
    ratio = measured / peer if peer else float("inf")
    verdict = "PASS" if ok(ratio) else "FAIL"
    print(f"  {name:<58} {measured:>10.1f} {peer:>10.1f} {unit:<12} {ratio:>7.2f}x  {target:<14} {verdict}")


def header(title: str) -> None:
    print(f"\n{title}")
    print(f"  {'comparison':<58} {'measured':>10} {'peer':>10} {'unit':<12} {'ratio':>8}  {'target':<14}")


def main() -> int:
    lines = gcode(LINES)
    framed = sum(len(frame(i + 1, line)) for i, line in enumerate(lines)) / len(lines)
    print(f"{LINES} lines of ~{framed:.0f} framed bytes; {ROUND_TRIPS} round trips; host CPU = this process")

    header("(a) scriptdeck virtual printer on a pty, no per-move delay")
    with firmware(virtual("--buffer", "0")) as port:
        a_pp = run_scriptdeck(port, "pingpong", lines)
        a_buf = run_scriptdeck(port, "buffered", lines)
        a_me = run_mecode(port, lines)
        rt_sd = scriptdeck_round_trips(port, ROUND_TRIPS)
        rt_me = mecode_round_trips(port, ROUND_TRIPS)
        floor = bare_loop(port, lines)
    for name, r in (("scriptdeck ping-pong", a_pp), ("scriptdeck buffer-aware", a_buf), ("mecode Printer", a_me)):
        print(f"  {name:<24} {r.rate:>9.0f} lines/s  {r.cpu_per_1000 * 1000:>7.1f} ms CPU per 1,000 lines")
    row("lines/s, ping-pong vs mecode", a_pp.rate, a_me.rate, "lines/s", "(info)", lambda r: True)
    row("lines/s, buffer-aware vs mecode", a_buf.rate, a_me.rate, "lines/s", "(info)", lambda r: True)
    row("CPU ms/1000 lines, ping-pong vs mecode", a_pp.cpu_per_1000 * 1000, a_me.cpu_per_1000 * 1000,
        "ms/1000", "<= 0.25x", lambda r: r <= 0.25)
    row("CPU ms/1000 lines, buffer-aware vs mecode", a_buf.cpu_per_1000 * 1000, a_me.cpu_per_1000 * 1000,
        "ms/1000", "<= 0.25x", lambda r: r <= 0.25)
    row("CPU ms/1000 lines, bare write/read loop vs mecode (floor)", floor.cpu_per_1000 * 1000,
        a_me.cpu_per_1000 * 1000, "ms/1000", "(info)", lambda r: True)
    row("get_response('M105') round trips/s vs mecode", rt_sd.rate, rt_me.rate, "trips/s", ">= 50x",
        lambda r: r >= 50)

    header("(b) scriptdeck virtual printer: 16-slot planner, 1,000 moves/s, ADVANCED_OK")
    with firmware(virtual("--buffer", "16", "--move-ms", "1", "--advanced-ok")) as port:
        b_pp = run_scriptdeck(port, "pingpong", lines)
        b_buf = run_scriptdeck(port, "buffered", lines)
        b_me = run_mecode(port, lines)
    for name, r in (("scriptdeck ping-pong", b_pp), ("scriptdeck buffer-aware", b_buf), ("mecode Printer", b_me)):
        print(f"  {name:<24} {r.rate:>9.0f} lines/s  {r.cpu_per_1000 * 1000:>7.1f} ms CPU per 1,000 lines")
    row("buffer-aware lines/s vs firmware rate", b_buf.rate, 1000.0, "lines/s", ">= 0.95x", lambda r: r >= 0.95)
    row("ping-pong lines/s vs firmware rate", b_pp.rate, 1000.0, "lines/s", "(info)", lambda r: True)
    row("mecode lines/s vs firmware rate", b_me.rate, 1000.0, "lines/s", "(info)", lambda r: True)
    row("CPU ms/1000 lines, buffer-aware vs mecode", b_buf.cpu_per_1000 * 1000, b_me.cpu_per_1000 * 1000,
        "ms/1000", "<= 0.25x", lambda r: r <= 0.25)

    header("(b') fakemarlin.py --planner 16 --rate 1000 --rx-size 128 --advanced-ok (independent firmware)")
    if not FAKEMARLIN.exists():
        print(f"  skipped: {FAKEMARLIN} not found")
        return 0
    fm = ("--planner", "16", "--rate", "1000", "--rx-size", "128", "--advanced-ok")
    with firmware(fakemarlin(*fm)) as port:
        f_buf = run_scriptdeck(port, "buffered", lines)
    with firmware(fakemarlin(*fm)) as port:
        f_pp = run_scriptdeck(port, "pingpong", lines)
    row("buffer-aware lines/s vs firmware rate", f_buf.rate, 1000.0, "lines/s", ">= 0.95x", lambda r: r >= 0.95)
    row("ping-pong lines/s vs firmware rate", f_pp.rate, 1000.0, "lines/s", "(info)", lambda r: True)

    header(f"(c) fakemarlin.py as (b') plus --baud 115200 ({BAUD_LINES} lines)")
    baud_lines = lines[:BAUD_LINES]
    link = 11520 / (sum(len(frame(i + 1, line)) for i, line in enumerate(baud_lines)) / len(baud_lines))
    with firmware(fakemarlin(*fm, "--baud", "115200")) as port:
        c_buf = run_scriptdeck(port, "buffered", baud_lines)
    row("buffer-aware lines/s vs link limit", c_buf.rate, link, "lines/s", ">= 0.95x", lambda r: r >= 0.95)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
