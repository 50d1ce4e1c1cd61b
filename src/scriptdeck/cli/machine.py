"""Machine sub-commands: `virtual-printer [--pty]` and `print FILE [--machine URL]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scriptdeck.cli._signals import cancel_signals
from scriptdeck.errors import ProtocolError, UserError

if TYPE_CHECKING:
    from scriptdeck.machine.transport import Transport


def register(sub: Any) -> None:
    p = sub.add_parser("virtual-printer", help="serve the built-in Marlin-like simulator on a pseudo-terminal")
    p.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (the only mode; accepted for clarity)")
    p.add_argument("--buffer", type=int, default=16, help="planner slots (default 16; 0 = no planner)")
    p.add_argument("--bufsize", type=int, default=4, help="command queue entries (Marlin BUFSIZE, default 4)")
    p.add_argument("--rx-size", type=int, default=0, help="receive buffer bytes, overflow dropped (default 0 = unlimited)")
    p.add_argument("--move-ms", type=float, default=0.0, help="time per planned move in ms (default 0)")
    p.add_argument("--advanced-ok", action="store_true", help="reply ok N<n> P<planner> B<buffer>")
    p.add_argument("--heat-rate", type=float, default=50.0, help="°C per second (default 50)")
    p.add_argument("--wait-ms", type=float, default=0.0, help="say 'wait' after this long idle (default 0 = never)")
    p.add_argument("--no-greet-ok", dest="greet_ok", action="store_false",
                   help="greet with 'start' only, like Marlin; by default an 'ok' follows, because mecode's "
                        "Printer waits for one before sending anything")
    p.add_argument("--faults", default="", help="fault injection, e.g. checksum@5,drop@*100 (see docs/machines.md)")
    p.set_defaults(handler=cmd_virtual_printer)

    p = sub.add_parser("print", help="stream a G-code file to a machine with a progress bar")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--machine", metavar="URL", default="virtual://", help="machine URL (default virtual://)")
    p.add_argument("--flow", choices=("buffered", "pingpong"), default="buffered", help="flow control (default buffered)")
    p.add_argument("--rx-size", type=int, default=128, help="the firmware's receive buffer in bytes (default 128)")
    p.add_argument("--abort-line", action="append", default=[], metavar="GCODE",
                   help="sent after M108/M410 when the print is cancelled (repeatable), e.g. 'M104 S0'")
    p.set_defaults(handler=cmd_print)


def cmd_virtual_printer(args: argparse.Namespace) -> int:
    from scriptdeck.machine.virtual import VirtualOptions
    from scriptdeck.machine.virtual_pty import PtyPrinter

    query = {
        "buffer": str(args.buffer), "bufsize": str(args.bufsize), "rx_size": str(args.rx_size),
        "move_ms": str(args.move_ms), "advanced_ok": "1" if args.advanced_ok else "0",
        "heat_rate": str(args.heat_rate), "wait_ms": str(args.wait_ms), "faults": args.faults,
        "greet_ok": "1" if args.greet_ok else "0",
    }
    try:
        options = VirtualOptions.from_query(query)
    except Exception as exc:
        raise UserError(str(exc)) from None
    printer = PtyPrinter(options).start()
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    print(printer.path, flush=True)
    print(f"virtual printer on {printer.path}; SIGTERM or Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        while not stop.is_set() and not printer.stopped_by_fault.is_set():
            stop.wait(0.5)  # signal handlers run between waits
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        printer.close()
    return 0


def cmd_print(args: argparse.Namespace) -> int:
    from scriptdeck.machine.job import read_gcode
    from scriptdeck.machine.machine import Machine

    if args.rx_size < 0:
        raise UserError(f"--rx-size has value {args.rx_size}; expected a number of bytes ≥ 0 (0 = no limit)")
    path = Path(args.file)
    try:
        lines = read_gcode(path)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from None
    machine = Machine(args.machine, flow=args.flow, rx_size=args.rx_size, abort_lines=args.abort_line, temp_interval=0,
                      transport_factory=_open_url_checked)
    try:
        machine.connect()
    except _MalformedUrl as exc:
        raise UserError(f"--machine: {exc}") from None
    with cancel_signals():  # SIGTERM too; a second one does not cut the cancel short
        try:
            return _follow(machine.print_lines(lines, name=path.name), path.name)
        finally:
            machine.disconnect()  # lets a cancel's abort sequence out first


class _MalformedUrl(ProtocolError):
    """The machine URL itself is wrong: bad input (exit 2), unlike a port that cannot be opened (exit 1)."""


def _open_url_checked(url: str) -> Transport:
    from scriptdeck.machine.transport import open_transport

    try:
        return open_transport(url)
    except ProtocolError as exc:
        # open_transport raises ProtocolError only while reading the URL, before anything is
        # opened; a port or host that cannot be opened is a NotConnectedError.
        raise _MalformedUrl(str(exc)) from None


def _follow(job: Any, name: str) -> int:
    """Show the job's progress until it ends; Ctrl-C cancels it. The exit status."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} lines"),
        TimeElapsedColumn(), TimeRemainingColumn(), transient=False,
    ) as bar:
        task = bar.add_task(name, total=job.total)
        try:
            while not job.wait(0.2):  # refresh the bar five times a second
                bar.update(task, completed=job.acked)
        except KeyboardInterrupt:
            job.cancel()
            job.wait(10)
        bar.update(task, completed=job.acked)
    progress = job.progress
    if job.state == "cancelled":
        print(f"cancelled after {progress.acked}/{progress.total} lines; abort sequence sent", file=sys.stderr)
        return 1
    if job.error is not None:
        print(f"error: {job.error}", file=sys.stderr)
        return 1
    print(f"printed {progress.total} lines in {progress.elapsed:.1f} s", file=sys.stderr)
    return 0
