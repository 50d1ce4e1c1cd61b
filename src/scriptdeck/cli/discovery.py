"""Discovery sub-commands: `list`, `check`, `schema`, `enable`, `disable`, `settings`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scriptdeck.cli import _context
from scriptdeck.errors import SettingsError, UnknownServiceError
from scriptdeck.plugins.manifest import load_manifest
from scriptdeck.plugins.model import Plugin, PluginStatus, Service
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.scriptfile import load_script_files
from scriptdeck.plugins.searchpath import Root
from scriptdeck.settings.fields import describe


def register(sub: Any) -> None:
    p = sub.add_parser("list", help="list every plugin found on the search path")
    p.add_argument("--json", action="store_true", help='print {"plugins": [...]} (schema in docs/plugins.md)')
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("check", help="validate plugins; exit 1 if any has an error")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a plugin folder, a plugin.json, a script file or a root")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("schema", help="print the JSON Schema of plugin.json")
    p.set_defaults(handler=cmd_schema)

    for name, enabled in (("enable", True), ("disable", False)):
        p = sub.add_parser(name, help=f"{name} a plugin (persisted)")
        p.add_argument("plugin_id", metavar="ID")
        p.set_defaults(handler=cmd_enable, enabled=enabled)

    p = sub.add_parser("settings", help="show, change or reset a service's stored settings")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="K=V")
    p.add_argument("--reset", action="store_true", help="forget the stored values (back to the defaults)")
    p.add_argument("--direction", choices=("open", "save"), help="for a format service: which dialog")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_settings)


def _services_text(plugin: Plugin) -> str:
    return ", ".join(s.id for s in plugin.services) or "-"


def _print_json(data: object) -> None:
    # Indented for a person at a terminal; compact when piped (it is 3x faster to write).
    sys.stdout.write(json.dumps(data, indent=2 if sys.stdout.isatty() else None) + "\n")


def cmd_list(args: argparse.Namespace) -> int:
    registry = _context.registry(args)
    if args.json:
        _print_json(registry.to_json())
        return 0
    from rich.console import Console  # imported here: `list --json` has a tight time budget
    from rich.table import Table

    used, found = len(registry.winners()), len(registry.plugins)
    title = f"{used} plugin{'s' if used != 1 else ''} in use" + (f" ({found} found)" if found != used else "")
    table = Table(title=title, show_lines=False)
    for column in ("id", "name", "version", "services", "path", "status"):
        table.add_column(column, overflow="fold")
    for plugin in registry.plugins:
        status = str(plugin.status)
        if plugin.status == PluginStatus.SHADOWED:
            status = f"shadowed by {plugin.shadowed_by}"
        elif plugin.errors:
            status = f"{status} ({len(plugin.errors)} errors)"
        style = {"error": "red", "shadowed": "dim", "disabled": "yellow"}.get(str(plugin.status), "")
        table.add_row(
            plugin.id, plugin.name or plugin.id, str(plugin.version), _services_text(plugin),
            str(plugin.path), status, style=style,
        )
    Console(width=max(120, Console().width)).print(table)
    for plugin in registry.plugins:
        for message in plugin.errors:
            print(f"error: {message}", file=sys.stderr)
    return 0


def _load_path(path: Path) -> list[Plugin]:
    """Everything `check` should look at under PATH."""
    path = path.expanduser().resolve()
    if path.name == "plugin.json" and path.is_file():
        return [load_manifest(path.parent, path.parent.parent)]
    if path.is_file():
        found = load_script_files([path], path.parent)
        if found[0] is None:
            raise UnknownServiceError(f"{path}: not a plugin (no __script_id__ and not a plugin.json)")
        return [found[0]]
    if (path / "plugin.json").is_file():
        return [load_manifest(path, path.parent)]
    if path.is_dir():
        return Registry.discover([Root(path, "plugin-path")]).plugins
    raise UnknownServiceError(f"{path}: no such file or directory")


def cmd_check(args: argparse.Namespace) -> int:
    errors = 0
    for raw in args.paths:
        for plugin in _load_path(Path(raw)):
            for message in plugin.errors:
                print(f"error: {message}")
            for message in plugin.warnings:
                print(f"warning: {message}")
            errors += len(plugin.errors)
            skipped = sum("service skipped" in m for m in plugin.warnings)
            state = "error" if plugin.errors else "ok" if not skipped else f"ok, but {skipped} service(s) skipped"
            print(f"{plugin.id}: {state} ({len(plugin.errors)} errors, {len(plugin.warnings)} warnings) — {plugin.path}")
    return 1 if errors else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from scriptdeck.plugins.schema import manifest_json_schema  # only this command needs it

    sys.stdout.write(json.dumps(manifest_json_schema(), indent=2) + "\n")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    store = _context.store(args)
    registry = _context.registry(args, store)
    plugin = registry.plugin(args.plugin_id)
    store.set_enabled(plugin.id, args.enabled)
    print(f"{plugin.id}: {'enabled' if args.enabled else 'disabled'}")
    return 0


def _direction(service: Service, requested: str | None) -> str | None:
    if service.kind != "format":
        return None
    if requested:
        if (requested == "open" and not service.can_open) or (requested == "save" and not service.can_save):
            raise SettingsError(f"--direction: format {service.id} cannot {requested}")
        return requested
    return "open" if service.can_open else "save"


def cmd_settings(args: argparse.Namespace) -> int:
    store = _context.store(args)
    _, service = _context.registry(args, store).find_service(args.service)
    direction = _direction(service, args.direction)
    schema, key = service.settings_for(direction), service.settings_key(direction)
    # A run starts from the stored values overlaid by the last-used ones (actions, formats): what is
    # set here must win over both, and what is shown is what the next run will get.
    last = store.last_used(key)
    if args.reset:
        store.reset(key)
        if last:
            store.remember(key, {})
    if args.assignments:
        parsed = schema.parse_assignments(args.assignments)
        store.update(key, parsed)
        if last:
            store.remember(key, {**last, **parsed})
    stored = {**store.values(key), **store.last_used(key)}
    values, warnings = schema.resolve(stored)
    for warning in warnings:
        print(f"warning: {service.id}: {warning}", file=sys.stderr)
    if args.json:
        _print_json({"service": service.id, "values": values})
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{service.label} ({service.id})")
    for column in ("setting", "type", "value", "default"):
        table.add_column(column)
    for f in schema:
        if f.has_value:
            mark = "" if f.name in stored else " (default)"
            table.add_row(f.name, f.type, describe(values.get(f.name)) + mark, describe(f.default))
    for name in stored:
        if schema.get(name) is None:
            table.add_row(name, "(stored)", describe(stored[name]), "")
    Console().print(table)
    return 0
