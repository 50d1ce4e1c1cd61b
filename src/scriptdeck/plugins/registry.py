"""The registry: every plugin found on the search path, with precedence and shadowing applied.

Discovery never runs plugin code in this process: manifests are JSON, script files are
read with `ast` (see scriptfile.py for the rare import fallback, done in a subprocess).
A broken plugin is listed with its errors and never stops discovery of the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scriptdeck.errors import UnknownServiceError
from scriptdeck.plugins.cache import DiscoveryCache
from scriptdeck.plugins.loading import Source, load_sources
from scriptdeck.plugins.model import Plugin, PluginStatus, Service, ServiceKind
from scriptdeck.plugins.searchpath import Root


def scan_root(root: Root) -> tuple[list[Path], list[Path]]:
    """Plugin folders (`<root>/<Id>/plugin.json`) and candidate script files (`<root>/*.py`), sorted."""
    folders: list[Path] = []
    scripts: list[Path] = []
    base = os.fspath(root.path)
    try:
        # scandir: whether an entry is a file or a folder comes with the listing (no stat each).
        with os.scandir(base) as it:
            entries = [entry for entry in it if not entry.name.startswith(".")]
    except OSError:
        return folders, scripts
    # Sorted by name as a string: comparing Path objects costs ten times more.
    entries.sort(key=lambda entry: entry.name)
    isfile = os.path.isfile
    for entry in entries:
        name = entry.name
        if name.endswith(".py") and _is_file(entry):
            scripts.append(root.path / name)
        elif _is_dir(entry) and isfile(os.path.join(base, name, "plugin.json")):
            folders.append(root.path / name)
    return folders, scripts


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()  # follows links, like Path.is_file
    except OSError:
        return False


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


@dataclass
class Registry:
    """All plugins found, in search order; the winners are `usable` (status ok)."""

    plugins: list[Plugin] = field(default_factory=list)
    roots: list[Root] = field(default_factory=list)

    @classmethod
    def discover(
        cls, roots: Sequence[Root], disabled: Iterable[str] = (), cache: DiscoveryCache | None = None
    ) -> Registry:
        sources: list[Source] = []
        for root in roots:
            folders, scripts = scan_root(root)
            sources += [Source(folder, root.path, False) for folder in folders]
            sources += [Source(script, root.path, True) for script in scripts]
        found = [p for p in load_sources(sources, cache) if p is not None]
        if cache is not None:
            cache.save()
        registry = cls(found, list(roots))
        registry._resolve_precedence()
        registry._apply_disabled(set(disabled))
        return registry

    def _resolve_precedence(self) -> None:
        by_id: dict[str, list[Plugin]] = {}
        for plugin in self.plugins:
            by_id.setdefault(plugin.id, []).append(plugin)
        for plugin_id, copies in by_id.items():
            if len(copies) == 1:
                continue
            scripts = [p for p in copies if p.kind == "script"]
            if len(scripts) == len(copies):
                # Seed 000: ids must be globally unique; the first in search order wins.
                winner = scripts[0]
                for loser in scripts[1:]:
                    loser.status = PluginStatus.ERROR
                    loser.shadowed_by = str(winner.path)
                    loser.errors.append(
                        f"{loser.path}: __script_id__: {plugin_id!r} is already used by {winner.path}; "
                        "script ids must be globally unique"
                    )
                continue
            # Higher version wins; on a tie the earlier root (stable sort keeps search order).
            ranked = sorted(copies, key=lambda p: -p.version)
            winner = ranked[0]
            for loser in ranked[1:]:
                loser.status = PluginStatus.SHADOWED
                loser.shadowed_by = str(winner.path)

    def _apply_disabled(self, disabled: set[str]) -> None:
        for plugin in self.plugins:
            plugin.enabled = plugin.id not in disabled
            if not plugin.enabled and plugin.status == PluginStatus.OK:
                plugin.status = PluginStatus.DISABLED

    # -- lookups -------------------------------------------------------------------------

    def winners(self) -> list[Plugin]:
        """One plugin per id: the copy that is not shadowed (it may be in error or disabled)."""
        return [p for p in self.plugins if p.status != PluginStatus.SHADOWED and p.shadowed_by is None]

    def plugin(self, plugin_id: str) -> Plugin:
        for plugin in self.winners():
            if plugin.id == plugin_id:
                return plugin
        known = ", ".join(sorted({p.id for p in self.plugins})) or "none"
        raise UnknownServiceError(f"no plugin {plugin_id!r} (installed: {known})")

    def services(self, kind: ServiceKind | None = None) -> list[Service]:
        """Services of usable plugins, in search order."""
        return [
            s for p in self.plugins if p.usable for s in p.services if kind is None or s.kind == kind
        ]

    def find_service(self, ref: str) -> tuple[Plugin, Service]:
        """A service by its id, or by its plugin's id when that plugin has exactly one service."""
        for plugin in self.winners():
            for service in plugin.services:
                if service.id == ref:
                    return self._usable(plugin, service)
        for plugin in self.winners():
            if plugin.id == ref:
                if len(plugin.services) == 1:
                    return self._usable(plugin, plugin.services[0])
                if plugin.services:
                    ids = ", ".join(s.id for s in plugin.services)
                    raise UnknownServiceError(f"plugin {ref!r} has several services; name one of: {ids}")
                raise UnknownServiceError(f"plugin {ref!r} has no usable service: {'; '.join(plugin.errors)}")
        prefix = ref.split("/", 1)[0]
        skipped = [m for p in self.winners() if p.id == prefix for m in p.warnings if "service skipped" in m]
        if skipped:  # the service the author meant is likely one of these: say why it is missing
            raise UnknownServiceError(f"no service {ref!r}; plugin {prefix!r} skipped: " + "; ".join(skipped))
        known = ", ".join(s.id for s in self.services()) or "none"
        raise UnknownServiceError(f"no service {ref!r} (available: {known})")

    @staticmethod
    def _usable(plugin: Plugin, service: Service) -> tuple[Plugin, Service]:
        if plugin.status == PluginStatus.DISABLED:
            raise UnknownServiceError(f"plugin {plugin.id!r} is disabled (scriptdeck enable {plugin.id})")
        if plugin.status == PluginStatus.ERROR:
            raise UnknownServiceError(f"plugin {plugin.id!r} has errors: {'; '.join(plugin.errors)}")
        return plugin, service

    def formats(self) -> list[Service]:
        return self.services(ServiceKind.FORMAT)

    def to_json(self) -> dict[str, Any]:
        return {"plugins": [p.to_json() for p in self.plugins]}
