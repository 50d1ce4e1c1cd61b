"""The `scriptdeck` command line: parses arguments and calls the packages below it.

Each sub-command lives in its own module of this package, which exposes
``register(subparsers)``; the module adds its parser and sets ``handler`` (a function
``(args) -> int``) as the parser default. Exit status: 0 success, 1 the plugin failed
or was cancelled, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from scriptdeck.errors import RunError, ScriptdeckError, UserError

# Sub-command modules, in the order `scriptdeck --help` lists them, with the commands each adds.
# Only the module of the command being run is imported: `scriptdeck list` must not pay for
# the web stack or the document parser (discovery of 1,000 plugins has a 0.5 s budget).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "scriptdeck.cli.discovery": ("list", "check", "schema", "enable", "disable", "settings"),
    "scriptdeck.cli.convert": ("convert",),
    "scriptdeck.cli.run": ("run", "history"),
    "scriptdeck.cli.serve": ("serve",),
    "scriptdeck.cli.machine": ("virtual-printer", "print"),
}
_GLOBAL_WITH_VALUE = {"--data-dir", "--plugin-path"}


def _requested_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in argv (skipping global options and their values), if any."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _GLOBAL_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scriptdeck",
        description="A plugin host for G-code machines.",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="data directory (else $SCRIPTDECK_HOME, else the user data dir)")
    parser.add_argument(
        "--plugin-path", metavar="DIR", action="append", default=[],
        help="extra plugin root, searched first (repeatable; also $SCRIPTDECK_PLUGIN_PATH)",
    )
    parser.add_argument("--no-examples", action="store_true", help="hide the shipped example plugins")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = _requested_command(argv) if argv is not None else None
    modules = [m for m, names in COMMAND_MODULES.items() if wanted in names] or list(COMMAND_MODULES)
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ScriptdeckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
