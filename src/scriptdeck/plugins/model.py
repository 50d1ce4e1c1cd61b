"""What a plugin is: the plain data discovery produces for both contracts (no plugin code runs).

A `Plugin` is a plugin folder (seed 004, `kind="manifest"`) or an automation script file
(seed 000, `kind="script"`). Each offers `Service`s of three kinds: `action`, `format` and
`automation`. Everything the runner, the CLI and the web need to know is here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from scriptdeck.settings.fields import SettingsSchema


class ServiceKind(StrEnum):
    ACTION = "action"
    FORMAT = "format"
    AUTOMATION = "automation"


class PluginStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    DISABLED = "disabled"
    SHADOWED = "shadowed"


@dataclass(frozen=True)
class ScriptRef:
    """Where a service's code lives: `module` inside the plugin folder, and a function or class in it.

    For a script file `module` is the file itself (`path`) and `function` the `__script_obj__` class.
    """

    module: str
    function: str
    settings: SettingsSchema = field(default_factory=SettingsSchema)
    path: Path | None = None  # the module's file (<folder>/<module>.py, a package's __init__.py, or the script)

    def to_json(self) -> dict[str, Any]:
        return {"module": self.module, "function": self.function}


@dataclass(frozen=True)
class Service:
    """One thing a plugin offers. `id` is globally unique (see `service_id` for the rule)."""

    id: str
    kind: ServiceKind
    plugin_id: str
    label: str
    tooltip: str = ""
    icon: str | None = None  # resolved file path, or "theme:NAME"
    script: ScriptRef | None = None  # action: the function; automation: the class
    # format services
    extensions: tuple[str, ...] = ()
    slug: str = ""
    open: ScriptRef | None = None
    save: ScriptRef | None = None
    auto_open: bool = True
    # automation services
    commands: ScriptRef | None = None  # returns the G-code sent on connect
    commands_literal: tuple[str, ...] | None = None  # known without running code (a literal lambda/def)

    @property
    def settings(self) -> SettingsSchema:
        """The settings schema of an action or automation (formats have one per direction)."""
        return self.script.settings if self.script else SettingsSchema()

    def settings_for(self, direction: str | None = None) -> SettingsSchema:
        if self.kind == ServiceKind.FORMAT:
            ref = self.open if direction == "open" else self.save if direction == "save" else None
            if ref is None:
                raise ValueError(f"format service {self.id}: no {direction!r} direction")
            return ref.settings
        return self.settings

    def settings_key(self, direction: str | None = None) -> str:
        """Key under which stored values of this service (and direction) are kept."""
        return f"{self.id}:{direction}" if self.kind == ServiceKind.FORMAT and direction else self.id

    @property
    def can_open(self) -> bool:
        return self.open is not None

    @property
    def can_save(self) -> bool:
        return self.save is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": str(self.kind), "icon": self.icon}
        if self.kind == ServiceKind.AUTOMATION:
            data["title"] = self.label
            data["settings"] = self.settings.to_json()
            data["has_commands"] = self.commands is not None or self.commands_literal is not None
        elif self.kind == ServiceKind.ACTION:
            data["label"] = self.label
            data["tooltip"] = self.tooltip
            data["settings"] = self.settings.to_json()
        else:
            data["label"] = self.label
            data["extensions"] = list(self.extensions)
            data["slug"] = self.slug
            data["can_open"] = self.can_open
            data["can_save"] = self.can_save
            data["auto_open"] = self.auto_open
            data["settings"] = {
                "open": self.open.settings.to_json() if self.open else None,
                "save": self.save.settings.to_json() if self.save else None,
            }
        return data


@dataclass
class Plugin:
    """A plugin folder or a script file, with everything discovery learned about it."""

    id: str
    kind: str  # "manifest" | "script"
    path: Path  # the plugin folder, or the script file
    root: Path  # the search-path root it was found in
    name: str = ""
    description: str = ""
    version: int = 0
    author: str = ""
    engine: str = "python"
    icon: str | None = None
    services: list[Service] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    status: PluginStatus = PluginStatus.OK
    shadowed_by: str | None = None  # path of the winning copy
    enabled: bool = True
    # False when discovery had to import the file (its result depends on files outside it)
    cacheable: bool = True

    @property
    def manifest_path(self) -> Path:
        return self.path / "plugin.json" if self.kind == "manifest" else self.path

    @property
    def usable(self) -> bool:
        return self.status == PluginStatus.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name or self.id,
            "description": self.description,
            "version": self.version,
            "author": self.author,
            "engine": self.engine,
            "icon": self.icon,
            "path": str(self.path),
            "kind": self.kind,
            "status": str(self.status),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "shadowed_by": self.shadowed_by,
            "services": [s.to_json() for s in self.services],
        }


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Lowercase, runs of non-alphanumerics become `-`, no leading/trailing `-`."""
    return _NON_ALNUM.sub("-", text.lower()).strip("-")


def service_id(plugin_id: str, local: str, taken: set[str]) -> str:
    """`PluginId/<local>`, with `-2`, `-3`... appended to a local id already taken in this plugin."""
    candidate, n = local, 1
    while candidate in taken:
        n += 1
        candidate = f"{local}-{n}"
    taken.add(candidate)
    return f"{plugin_id}/{candidate}"
