"""`scriptdeck convert IN OUT`: open a file with one format, save the job with another.

    scriptdeck convert logo.svg logo.gcode --set feed_rate=1200
    scriptdeck convert part.gcode part.csv --set save.include_z=false
    scriptdeck convert drawing.xml out.gcode --from svg      # the extension does not say
    scriptdeck convert --list                                # every format, its slug and extensions

Formats are chosen by `--from`/`--to` (a slug or a service id), else by extension; an
extension several formats claim needs `--from`/`--to` (exit 2). `--set` goes to the format
that declares the setting: `open.NAME=V` for the opening format, `save.NAME=V` for the saving
one, and a plain `NAME=V` to whichever declares NAME (both, when both do). Messages of the
plugin (`warning: ...`) are printed as they arrive and progress shows as a bar on stderr; any
`import_export.error` fails the conversion (exit 1) and OUT is left as it was.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scriptdeck.cli import _context
from scriptdeck.document.formats import Format, FormatRegistry, FormatRun, open_document, save_document
from scriptdeck.errors import RunError, SettingsError, UserError
from scriptdeck.runtime.ui import CliWindow
from scriptdeck.settings.fields import describe


def register(sub: Any) -> None:
    p = sub.add_parser(
        "convert", help="convert a file between formats (e.g. SVG → G-code, G-code → CSV)",
        description="Open IN with a format, save the job to OUT with another. Formats come from "
        "--from/--to (slug or service id), else from the file extensions.",
    )
    p.add_argument("input", nargs="?", metavar="IN", help="the file to open")
    p.add_argument("output", nargs="?", metavar="OUT", help="the file to write (replaced only on success)")
    p.add_argument("--from", dest="from_slug", metavar="SLUG", help="format of IN (default: by its extension)")
    p.add_argument("--to", dest="to_slug", metavar="SLUG", help="format of OUT (default: by its extension)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="K=V",
                   help="a format setting: open.K=V, save.K=V, or K=V for whichever format declares K (repeatable)")
    p.add_argument("--defaults", action="store_true",
                   help="start from the declared defaults, not the settings used last time")
    p.add_argument("--timeout", type=float, metavar="S", help="give up on each step after S seconds (default 60)")
    p.add_argument("--list", action="store_true", help="list the formats (slug, extensions, open/save) and exit")
    p.set_defaults(handler=cmd_convert)


def split_assignments(assignments: Sequence[str], fin: Format, fout: Format) -> tuple[dict[str, Any], dict[str, Any]]:
    """`--set` items → (typed open settings of `fin`, typed save settings of `fout`).

    `open.K=V` / `save.K=V` name the direction; a plain `K=V` goes to every direction that
    declares K (a setting name that itself contains a dot is matched whole first).
    """
    schemas = {"open": fin.settings("open"), "save": fout.settings("save")}
    owners = {"open": fin, "save": fout}
    values: dict[str, dict[str, Any]] = {"open": {}, "save": {}}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"--set {describe(item)}: expected NAME=VALUE, open.NAME=VALUE or save.NAME=VALUE")
        direction, dot, name = key.partition(".")
        if dot and direction in schemas and not any(s.get(key) for s in schemas.values()):
            targets = [direction]
            field = schemas[direction].get(name)
            if field is None or not field.has_value:
                raise SettingsError(f"--set {key}: {_no_setting(owners[direction], direction, name)}")
        else:
            name = key
            targets = [d for d, s in schemas.items() if (f := s.get(key)) is not None and f.has_value]
            if not targets:
                raise SettingsError(f"--set {key}: no format declares it ({_known(fin, 'open')}; {_known(fout, 'save')})")
        for target in targets:
            declared = schemas[target].get(name)
            assert declared is not None  # checked above
            values[target][name] = declared.coerce(text, where=f"--set {key}")
    return values["open"], values["save"]


def _names(fmt: Format, direction: str) -> str:
    return ", ".join(f.name for f in fmt.settings(direction) if f.has_value) or "none"


def _known(fmt: Format, direction: str) -> str:
    return f"{fmt.describe()} {direction} settings: {_names(fmt, direction)}"


def _no_setting(fmt: Format, direction: str, name: str) -> str:
    return f"format {fmt.describe()} has no {direction} setting {name!r} (it has: {_names(fmt, direction)})"


class _ConsoleWindow(CliWindow):
    """CliWindow whose lines go through rich's console, so they print above the progress bar."""

    def __init__(self, console: Console, stdin: IO[str] | None = None) -> None:
        super().__init__(stdin=stdin)
        self._console = console

    def _print(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False, soft_wrap=True)


def _list_formats(formats: FormatRegistry) -> int:
    table = Table(title=f"{len(formats.formats)} formats")
    for column in ("slug", "id", "name", "extensions", "open", "save"):
        table.add_column(column)
    for fmt in formats.formats:
        table.add_row(fmt.slug, fmt.id, fmt.label, ", ".join(fmt.extensions),
                      "yes" if fmt.can_open else "", "yes" if fmt.can_save else "")
    Console().print(table)
    return 0


def _progress_callback(progress: Progress, description: str) -> Callable[[int, int | None], None]:
    task = progress.add_task(description, total=None)

    def update(value: int, maximum: int | None) -> None:
        progress.update(task, completed=value, total=maximum)

    return update


def cmd_convert(args: argparse.Namespace) -> int:
    from scriptdeck.host import Host

    with Host(_context.data_path(args), args.plugin_path, include_examples=not args.no_examples, warm=False) as host:
        formats = FormatRegistry.from_services(host.registry.formats())
        if args.list:
            return _list_formats(formats)
        if not args.input or not args.output:
            raise UserError("convert needs IN and OUT (or --list)")
        source, target = Path(args.input), Path(args.output)
        fin = formats.choose(source, "open", args.from_slug, option="--from")
        fout = formats.choose(target, "save", args.to_slug, option="--to")
        open_settings, save_settings = split_assignments(args.assignments, fin, fout)
        if not source.is_file():
            raise UserError(f"{source}: no such file")
        console = Console(stderr=True)
        window = _ConsoleWindow(console)
        common = {"window": window, "use_last_used": not args.defaults, "timeout": args.timeout}
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        # Off a terminal (a pipe, a CI log) a bar is noise; the messages and the summary still print.
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
            opened = open_document(host, source, fin, settings=open_settings,
                                   progress=_progress_callback(progress, f"open {source.name} ({fin.slug})"), **common)
            _finish(opened)
            assert opened.document is not None
            saved = save_document(host, opened.document, target, fout, settings=save_settings,
                                  progress=_progress_callback(progress, f"save {target.name} ({fout.slug})"), **common)
            _finish(saved)
        print(f"converted {source} ({fin.slug}) → {target} ({fout.slug}); the job has {len(opened.document)} lines",
              file=sys.stderr)
        return 0


def _finish(run: FormatRun) -> None:
    """Raise (exit 1) when the step failed; its messages were already printed as they came.

    A plugin that raised also gets its traceback and the run's id here (what `run` shows): the
    exception's name alone does not tell the plugin's author where to look."""
    result = run.result
    for record in (result.log if result is not None else []):
        if record.get("level") == "WARNING" and record.get("logger") == "scriptdeck":  # the host's own notes
            print(f"warning: {record['message']}", file=sys.stderr)
    try:
        run.raise_for_outcome()
    except RunError:
        if result is not None:
            if result.traceback:
                print(result.traceback.rstrip(), file=sys.stderr)
            print(f"run {result.run_id[:8]}: `scriptdeck history show {result.run_id[:8]}` has its log",
                  file=sys.stderr)
        raise
