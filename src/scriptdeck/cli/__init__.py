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

# Sub-command modules, in the order `scriptdeck --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "scriptdeck.cli.discovery",
    "scriptdeck.cli.convert",
    "scriptdeck.cli.run",
    "scriptdeck.cli.serve",
    "scriptdeck.cli.machine",
)


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
