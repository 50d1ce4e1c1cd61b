"""Run sub-commands: `run SERVICE ...` and `history [show RUN]`.

`run` prints the plugin's messages (``warning: <message>``), its log and the outcome on
stderr; with `--json-events` every event envelope is one JSON line on stdout and nothing
else is written there. Ctrl-C cancels the run (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scriptdeck.cli import _context
from scriptdeck.cli._signals import cancel_signals
from scriptdeck.errors import ProtocolError, UserError
from scriptdeck.host import Host, check_timeout
from scriptdeck.plugins.model import ServiceKind
from scriptdeck.runtime import events as ev
from scriptdeck.runtime.machines import RECORD_ONLY
from scriptdeck.runtime.ui import CliWindow


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a service (action, format or automation script)")
    p.add_argument("service", metavar="SERVICE", help="a service id (or a plugin id with one service)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="K=V",
                   help="a setting for this run (repeatable)")
    p.add_argument("--doc", metavar="FILE", help="the G-code job (actions, format save) or the file a format opens")
    p.add_argument("--out", metavar="FILE", help="write the resulting G-code here (actions, format open), "
                   "or the file a format saves to")
    p.add_argument("--direction", choices=("open", "save"), help="for a format that can do both")
    p.add_argument("--machine", metavar="URL", help="machine for automation scripts (default virtual://)")
    p.add_argument("--abort-line", action="append", default=[], metavar="GCODE",
                   help="sent after M108/M410 when the run is cancelled, e.g. 'M104 S0' (repeatable)")
    p.add_argument("--json-events", action="store_true", help="print each event as one JSON line on stdout")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="give up after S seconds (default: none for automation, 60 for actions/formats; 0 = none)")
    p.add_argument("--defaults", action="store_true", help="ignore the last-used settings of this action/format")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("history", help="list past runs, or show one (history show RUN)")
    p.add_argument("show", nargs="?", choices=("show",), help=argparse.SUPPRESS)
    p.add_argument("run_id", nargs="?", metavar="RUN", help="with `show`: a run id (or a unique prefix)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_history)


# The service kinds each kind-specific option applies to (docs/runtime.md): given to any other
# kind it would be ignored without a word, so it is refused instead.
_ONLY_FOR: dict[str, tuple[str, frozenset[ServiceKind]]] = {
    "doc": ("--doc", frozenset({ServiceKind.ACTION, ServiceKind.FORMAT})),
    "out": ("--out", frozenset({ServiceKind.ACTION, ServiceKind.FORMAT})),
    "direction": ("--direction", frozenset({ServiceKind.FORMAT})),
    "machine": ("--machine", frozenset({ServiceKind.AUTOMATION})),
    "abort_line": ("--abort-line", frozenset({ServiceKind.AUTOMATION})),
    "defaults": ("--defaults", frozenset({ServiceKind.ACTION, ServiceKind.FORMAT})),  # automation keeps no last-used
}
_A_KIND = {ServiceKind.AUTOMATION: "an automation script", ServiceKind.ACTION: "an action", ServiceKind.FORMAT: "a format"}


def _check_options_apply(args: argparse.Namespace, service_id: str, kind: ServiceKind) -> None:
    # e.g. "--direction: only for a format; PostProcess/search-and-replace is an action"
    for dest, (option, kinds) in _ONLY_FOR.items():
        if getattr(args, dest) and kind not in kinds:
            allowed = " or ".join(_A_KIND[k] for k in _A_KIND if k in kinds)
            raise UserError(f"{option}: only for {allowed}; {service_id} is {_A_KIND[kind]}")


def _host(args: argparse.Namespace, machine: str | None = None) -> Host:
    return Host(_context.data_path(args), args.plugin_path, include_examples=not args.no_examples,
                machine_url=machine or "virtual://", abort_lines=args.abort_line)


def _read_document(path: str) -> Any:
    from scriptdeck.document.gcode import GcodeDocument

    try:
        return GcodeDocument.from_file(path)  # refuses a binary file, drops a byte order mark
    except OSError as exc:
        raise UserError(f"--doc {path}: {exc.strerror or exc}") from None


def _check_out(path: str) -> None:
    """Refuse an --out the result could not be written to before the run, not after it."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UserError(f"--out {path}: is a folder; name the file to write")
    if not target.parent.is_dir():
        raise UserError(f"--out {path}: cannot save: the folder {target.parent} does not exist")


def _format_options(args: argparse.Namespace, can_open: bool, can_save: bool) -> dict[str, Any]:
    direction = args.direction or ("open" if can_open and ((args.doc and not args.out) or not can_save) else "save")
    if direction == "open":
        if not args.doc:
            raise UserError("a format run that opens a file needs --doc FILE")
        return {"direction": "open", "file": args.doc}
    if not args.out:
        raise UserError("a format run that saves needs --out FILE (and --doc G-CODE)")
    return {"direction": "save", "file": args.out, "document": _read_document(args.doc) if args.doc else ""}


def _print_event(envelope: ev.Envelope) -> None:
    sys.stdout.write(json.dumps(envelope, default=str) + "\n")
    sys.stdout.flush()


def _print_status(envelope: ev.Envelope) -> None:
    status = envelope["payload"].get("status")
    if status:  # the script's script_status, shown live as the contract promises
        print(f"status: {status}", file=sys.stderr)


def _print_log(envelope: ev.Envelope) -> None:
    payload = envelope["payload"]
    print(f"[{payload['level']}] {payload['message']}", file=sys.stderr)
    if payload.get("exc_text"):
        print(payload["exc_text"], file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    check_timeout(args.timeout, "--timeout")
    with _host(args, args.machine) as host:
        _plugin, service = host.registry.find_service(args.service)
        _check_options_apply(args, service.id, service.kind)
        if args.out:
            _check_out(args.out)
        options: dict[str, Any] = {"timeout": args.timeout, "use_last_used": not args.defaults}
        if service.kind == ServiceKind.FORMAT:
            options.update(_format_options(args, service.can_open, service.can_save))
            schema = service.settings_for(options["direction"])
        else:
            if args.doc:
                options["document"] = _read_document(args.doc)
            schema = service.settings
            if service.kind == ServiceKind.AUTOMATION and host.machine_url != RECORD_ONLY:
                # Connect before the run: a bad URL or an absent printer is one clear error, not a
                # run in the history that failed with the same message twice.
                try:
                    host.machines.machine(host.machine_url)
                except ProtocolError as exc:  # raised reading the URL, before anything is opened
                    raise UserError(f"--machine: {exc}") from None
        # Parsed here for the CLI's messages (`--set x`: expected NAME=VALUE); validated again by the host.
        options["settings"] = schema.parse_assignments(args.assignments)
        if args.json_events:
            host.events.subscribe(_print_event)
        else:
            host.events.subscribe(_print_log, {ev.RUN_LOG})
            host.events.subscribe(_print_status, {ev.AUTOMATION_STATUS})
        with cancel_signals():  # SIGTERM too; a second one does not cut the cancel short
            run_id = host.start(service.id, window=CliWindow(), **options)
            try:
                result = _wait(host, run_id)
            except KeyboardInterrupt:
                print("cancelling...", file=sys.stderr)
                host.cancel(run_id)
                result = _wait(host, run_id)
            _report(result, args)
            host.close()  # inside the block: closing lets a cancel's abort sequence out to the machine
        return result.exit_status


def _wait(host: Host, run_id: str) -> Any:
    """host.wait in slices: the kernel may hand Ctrl-C or SIGTERM to any of the host's threads,
    and then Python runs its handler only when the main thread wakes — an untimed wait could
    ignore the signal until the run ended (seen: a cancelled run ran its 10 s to the end)."""
    while True:
        try:
            return host.wait(run_id, 0.2)
        except TimeoutError:
            continue


def _report(result: Any, args: argparse.Namespace) -> None:
    if result.outcome == "finished":
        if result.document_text is not None and args.out and result.direction != "save":
            from scriptdeck.document.formats import atomic_write

            data = result.document.to_bytes()
            try:
                atomic_write(Path(args.out).expanduser(), lambda out: out.write(data))
            except OSError as exc:  # e.g. the disk filled up during the run
                raise UserError(f"--out {args.out}: cannot save: {exc.strerror or exc}") from None
            print(f"wrote {args.out}", file=sys.stderr)
        elif result.document_text is not None and not args.out:
            print("note: the plugin changed the document; use --out FILE to keep it", file=sys.stderr)
        if result.result:
            print(f"result: {json.dumps(result.result)}", file=sys.stderr)
        print(f"{result.service_id}: finished (run {result.run_id[:8]})", file=sys.stderr)
    elif result.outcome == "failed":
        print(f"{result.service_id}: failed: {result.failure_reason or 'no reason given'} (run {result.run_id[:8]})",
              file=sys.stderr)
    elif result.outcome == "cancelled":
        print(f"{result.service_id}: cancelled (run {result.run_id[:8]})", file=sys.stderr)
    else:
        print(f"{result.service_id}: error: {result.error} (run {result.run_id[:8]})", file=sys.stderr)


def cmd_history(args: argparse.Namespace) -> int:
    from scriptdeck.runtime.history import History
    from scriptdeck.settings.store import DB_NAME

    if args.show and not args.run_id:
        raise UserError("history show needs a RUN id")
    if args.run_id and not args.show:
        raise UserError(f"unexpected {args.run_id!r}; did you mean `history show {args.run_id}`?")
    history = History(_context.data_path(args) / DB_NAME)
    try:
        history.mark_interrupted()
        if args.show:
            row = history.get(args.run_id)
            if args.json:
                sys.stdout.write(json.dumps(row, indent=2) + "\n")
            else:
                _print_run(row)
            return 0
        rows = history.list(args.limit)
        if args.json:
            sys.stdout.write(json.dumps({"runs": rows}, indent=2) + "\n")
            return 0
        for row in rows:
            detail = row["error"] or row["failure_reason"] or ""
            print(f"{row['id'][:8]}  {row['started_at'][:19]}  {row['outcome']:<11}  {row['service_id']}"
                  + (f"  ({detail})" if detail else ""))
        if not rows:
            print("no runs yet", file=sys.stderr)
        return 0
    finally:
        history.close()


def _print_run(row: dict[str, Any]) -> None:
    for key in ("id", "service_id", "kind", "title", "plugin_version", "direction", "machine", "outcome",
                "started_at", "ended_at", "failure_reason", "error"):
        if row.get(key) is not None:
            print(f"{key + ':':<16}{row[key]}")
    print(f"{'settings:':<16}{json.dumps(row['settings'])}")
    if row.get("result") is not None:
        print(f"{'result:':<16}{json.dumps(row['result'])}")
    for item in row.get("status_history") or []:
        print(f"status  {item['time']}  {item['status']}")
    for message in row.get("messages") or []:
        print(f"{message['level']}: {message['message']}")
    for record in row.get("log") or []:
        print(f"log  {record['time']}  {record['level']:<8} {record['message']}")
        if record.get("exc_text"):
            print(record["exc_text"])
    if row.get("gcode"):
        print("gcode:")
        print(row["gcode"])
