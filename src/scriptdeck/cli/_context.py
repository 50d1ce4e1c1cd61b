"""What every sub-command needs from the global options: the data dir, the search path, the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from scriptdeck.plugins.cache import DiscoveryCache
from scriptdeck.plugins.registry import Registry
from scriptdeck.plugins.searchpath import Root, data_dir, search_path
from scriptdeck.settings.store import DB_NAME, SettingsStore


def data_path(args: argparse.Namespace) -> Path:
    return data_dir(args.data_dir)


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
