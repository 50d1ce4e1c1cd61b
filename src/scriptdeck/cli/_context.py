"""What every sub-command needs from the global options: the data dir, the search path, the store."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from scriptdeck.errors import UserError
from scriptdeck.plugins.cache import DiscoveryCache
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.searchpath import Root, data_dir, search_path
from scriptdeck.settings.store import DB_NAME, SettingsStore


def data_path(args: argparse.Namespace) -> Path:
    """The data dir, refused here when a file stands where it or a parent should be: the settings
    store would fail with a bare FileExistsError, and `list` (which writes only a cache) would not notice."""
    path = data_dir(args.data_dir)
    # os.path rather than Path: it answers False instead of raising for a path it may not stat.
    blocker = next((p for p in (path, *path.parents) if os.path.exists(p)), None)
    if blocker is not None and not os.path.isdir(blocker):
        source = "--data-dir" if args.data_dir else "$SCRIPTDECK_HOME" if os.environ.get("SCRIPTDECK_HOME") else "data dir"
        where = "is a file" if blocker == path else f"is inside {str(blocker)!r}, a file"
        raise UserError(f"{source}: {str(path)!r} {where}; expected a directory (created if missing)")
    return path


def roots(args: argparse.Namespace) -> list[Root]:
    return search_path(args.plugin_path, data_path(args), include_examples=not args.no_examples)


def store(args: argparse.Namespace) -> SettingsStore:
    return SettingsStore(data_path(args) / DB_NAME)


def disabled_ids(args: argparse.Namespace) -> set[str]:
    """The disabled plugin ids; with no database yet there are none (and nothing to open)."""
    db = data_path(args) / DB_NAME
    if not db.exists():
        return set()
    return SettingsStore(db).disabled_ids()


def registry(args: argparse.Namespace, settings: SettingsStore | None = None) -> Registry:
    disabled = settings.disabled_ids() if settings is not None else disabled_ids(args)
    cache = DiscoveryCache(data_path(args) / "cache" / "discovery.pickle")
    return Registry.discover(roots(args), disabled, cache)
