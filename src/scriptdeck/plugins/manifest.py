"""Load a plugin folder's `plugin.json` (seed 004) into a `Plugin`, checking every rule without running code.

Each problem is one line, `<file>: <json path>: <message>`, naming the offending value and the rule:

    /x/plugins/Hello/plugin.json: services[0].script.settings[2].max: expected a number, got "ten"

Problems with the plugin as a whole are errors and give it status `error`. A service that cannot be
understood is skipped: its problems are reported as warnings ending in "; service skipped" and the
plugin keeps its other services. A plugin left with no service at all is an error.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scriptdeck.plugins import _jsonkeys
from scriptdeck.plugins.model import (
    Plugin,
    PluginStatus,
    ScriptRef,
    Service,
    ServiceKind,
    service_id,
    slugify,
)
from scriptdeck.plugins.patterns import (
    IDENTIFIER,
    THEME_NAME,
    THEME_PREFIX,
    TOKEN,
    TOKEN_RULE,
)
from scriptdeck.plugins.pysource import ModuleFacts, check_automation_class, find_module, read_module
from scriptdeck.settings.fields import Problem, SettingsSchema, describe, parse_schema

__all__ = ["KNOWN_ENGINES", "MANIFEST_NAME", "SERVICE_TYPES", "load_manifest"]

MANIFEST_NAME = "plugin.json"
KNOWN_ENGINES: tuple[str, ...] = ("python",)
SERVICE_TYPES: tuple[str, ...] = tuple(str(kind) for kind in ServiceKind)
PLUGIN_KEYS = ("name", "description", "version", "engine", "author", "icon", "services")
SERVICE_KEYS: dict[str, tuple[str, ...]] = {
    "action": ("type", "id", "label", "tooltip", "icon", "script"),
    "format": ("type", "id", "name", "icon", "extensions", "slug", "open", "save", "auto_open"),
    "automation": ("type", "id", "title", "label", "tooltip", "icon", "script", "commands"),
}
SCRIPT_KEYS = ("module", "function", "settings")
COMMANDS_KEYS = ("module", "function")
SKIPPED = "; service skipped"


def load_manifest(folder: Path, root: Path) -> Plugin:
    """Read `<folder>/plugin.json`; never raises for bad input.

    The plugin id is the folder name. The returned plugin carries every problem found in
    `errors`/`warnings`; its status is `error` exactly when `errors` is not empty.
    """
    file = folder / MANIFEST_NAME
    plugin = Plugin(id=folder.name, kind="manifest", path=folder, root=root, name=folder.name)
    for problem in _Loader(folder, plugin).load(file):
        target = plugin.errors if problem.severity == "error" else plugin.warnings
        target.append(problem.render(str(file)))
    if plugin.errors:
        plugin.status = PluginStatus.ERROR
    return plugin


# Real paths of folders, shared by the plugins of one batch (see `shared_resolution`).
_real_dirs: dict[str, str] | None = None


@contextmanager
def shared_resolution() -> Iterator[None]:
    """While loading a batch, resolve each root once instead of once per plugin file.

    `Path.resolve()` checks every component of the path (about 30 us for a plugin's module);
    within a batch a plugin folder or module that is not itself a link resolves to its
    parent's real path plus its name, and the parent (the root) is resolved only once. Outside
    a batch nothing is remembered, so a long-running process sees links that appear later.
    """
    global _real_dirs
    previous = _real_dirs
    if previous is None:
        _real_dirs = {}
    try:
        yield
    finally:
        _real_dirs = previous


def _resolve(path: Path) -> Path:
    """`path.resolve()`, faster inside `shared_resolution` when the last component is no link."""
    dirs = _real_dirs
    if dirs is None:
        return path.resolve()
    text = os.fspath(path)
    head, name = os.path.split(text)
    if not head or name in ("", ".", "..") or not os.path.isabs(text):
        return path.resolve()
    try:
        if stat.S_ISLNK(os.lstat(text).st_mode):
            return path.resolve()
    except OSError:  # missing, a loop, a name too long: let resolve() decide as it always did
        return path.resolve()
    real_head = dirs.get(head)
    if real_head is None:
        real_head = dirs[head] = os.path.realpath(head)
    # Remembered too: a plugin folder resolved here is the head of its module's path.
    real = dirs[text] = os.path.join(real_head, name)
    return Path(real)


def _inside(path: Path, base: Path) -> bool:
    """`path.is_relative_to(base)` without building a relative path (Python 3.11 does, and
    parses `base` again); on POSIX that is a prefix test on the parts."""
    if os.name != "posix":
        return path.is_relative_to(base)
    parts = base.parts
    return path.parts[: len(parts)] == parts


class _NotJson(ValueError):
    """NaN / Infinity: Python's json accepts them, JSON (and every editor) does not."""


def _reject_constant(token: str) -> Any:
    raise _NotJson(token)


_DECODER = _jsonkeys.Decoder(parse_constant=_reject_constant)


_UNREADABLE = object()  # not None: `null` is a readable (if useless) JSON document


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass
class _Draft:
    """A service that passed validation, waiting for its id (ids depend on the other services)."""

    path: str
    explicit_id: str | None
    local_id: str
    fields: dict[str, Any]


class _Problems:
    """Problems found in one scope (the plugin, or one service)."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.items)

    def unknown_keys(self, raw: dict[str, Any], path: str, known: tuple[str, ...]) -> None:
        for key in raw:
            if key not in known:
                self.warn(_join(path, key), f"unknown key {describe(key)} ignored (known: {', '.join(known)})")

    def string(self, raw: dict[str, Any], key: str, path: str) -> str:
        """An optional string key; absent and null read as ""."""
        value = raw.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error(_join(path, key), f"expected a string, got {describe(value)}")
            return ""
        return value

    def token(self, raw: dict[str, Any], key: str, path: str) -> str | None:
        """An optional id-like string (service `id`, `slug`): it ends up in service ids and on command lines."""
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(_join(path, key), f"expected a string, got {describe(value)}")
            return None
        if not TOKEN.fullmatch(value):
            self.error(_join(path, key), f"expected {TOKEN_RULE}, got {describe(value)}")
            return None
        return value


class _Loader:
    def __init__(self, folder: Path, plugin: Plugin) -> None:
        self.folder = folder
        self.plugin = plugin
        self.top = _Problems()
        self._modules: dict[Path, ModuleFacts | str] = {}
        try:
            self._real = _resolve(folder)
        except (OSError, ValueError, RuntimeError):
            self._real = folder.absolute()

    def load(self, file: Path) -> list[Problem]:
        raw = self._read(file)
        if raw is _UNREADABLE:
            return self.top.items
        if not isinstance(raw, dict):
            self.top.error("", f"expected a JSON object at the top level, got {describe(raw)}")
            return self.top.items
        self._plugin_keys(raw)
        self._services(raw)
        return self.top.items

    # -- the file -------------------------------------------------------------------------

    def _read(self, file: Path) -> Any:
        """The parsed JSON, or _UNREADABLE after recording why there is none."""
        try:
            data = file.read_bytes()
        except OSError as exc:
            self.top.error("", f"cannot read the manifest: {exc.strerror or exc}")
            return _UNREADABLE
        try:
            text = data.decode("utf-8-sig")  # editors on Windows like to add a BOM; it is harmless
        except UnicodeDecodeError as exc:
            self.top.error("", f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8")
            return _UNREADABLE
        try:
            data, repeated = _DECODER.loads(text)
        except json.JSONDecodeError as exc:
            self.top.error(f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}")
        except _NotJson as exc:
            self.top.error("", f"invalid JSON: {exc} is not a JSON value (JSON has no NaN or Infinity)")
        except (ValueError, RecursionError) as exc:  # a 5000-digit integer, absurd nesting
            self.top.error("", f"invalid JSON: {exc}")
        else:
            for duplicate in repeated:
                *earlier, last = duplicate.values
                ignored = ", ".join(describe(value) for value in earlier)
                self.top.warn(
                    _join(duplicate.path, duplicate.key),
                    f"duplicate key {describe(duplicate.key)}: the last value {describe(last)} is used, the earlier "
                    f"{ignored} {'is' if len(earlier) == 1 else 'are'} ignored (a key must appear only once in an object)",
                )
            return data
        return _UNREADABLE

    # -- plugin-level keys ----------------------------------------------------------------

    def _plugin_keys(self, raw: dict[str, Any]) -> None:
        top, plugin = self.top, self.plugin
        top.unknown_keys(raw, "", PLUGIN_KEYS)
        plugin.name = top.string(raw, "name", "") or plugin.id
        plugin.description = top.string(raw, "description", "")
        plugin.author = top.string(raw, "author", "")
        engine = raw.get("engine")
        if engine is None:
            top.error("engine", "required key missing")
        elif not isinstance(engine, str):
            top.error("engine", f"expected a string, got {describe(engine)}")
        else:
            plugin.engine = engine
            if engine not in KNOWN_ENGINES:
                top.error("engine", f"unknown engine {describe(engine)} (known: {', '.join(KNOWN_ENGINES)})")
        plugin.version = self._version(raw.get("version"))
        plugin.icon = self._icon(raw.get("icon"), "icon", top)

    def _version(self, value: object) -> int:
        if value is None:
            return 0
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        # 2.0 is how some JSON writers spell 2; only a fractional part is a mistake.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        self.top.error("version", f"expected an integer, got {describe(value)}")
        return 0

    def _icon(self, value: object, path: str, out: _Problems) -> str | None:
        """A resolved file path inside the plugin folder, or "theme:NAME"; None when there is none."""
        if value is None:
            return None
        rule = f'expected a file name in the plugin folder or "{THEME_PREFIX}NAME"'
        if not isinstance(value, str) or not value.strip():
            out.error(path, f"{rule}, got {describe(value)}")
            return None
        if value.startswith(THEME_PREFIX):
            if not THEME_NAME.fullmatch(value.removeprefix(THEME_PREFIX)):
                out.error(
                    path,
                    f"{describe(value)} is not a freedesktop icon name (lowercase ASCII letters, digits, "
                    '"-", "_" and ".", e.g. "theme:document-save")',
                )
                return None
            return value
        try:
            resolved = (self.folder / value).resolve()
            exists = resolved.is_file()
        except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops, names too long
            out.error(path, f"{rule}, got {describe(value)}")
            return None
        # Resolving first catches both `../x.svg` and a symlink that points out of the folder.
        if not resolved.is_relative_to(self._real):
            out.error(path, f"{describe(value)} resolves to {resolved}, outside the plugin folder")
            return None
        if not exists:
            out.warn(path, f"icon file {describe(value)} not found in the plugin folder; no icon shown")
            return None
        return str(resolved)

    # -- services -------------------------------------------------------------------------

    def _services(self, raw: dict[str, Any]) -> None:
        services = raw.get("services")
        if services is None:
            self.top.error("services", "required key missing")
            return
        if not isinstance(services, list):
            self.top.error("services", f"expected an array of services, got {describe(services)}")
            return
        if not services:
            self.top.error("services", "expected at least one service, got []")
            return
        drafts: list[_Draft] = []
        for index, item in enumerate(services):
            out = _Problems()
            draft = self._service(item, f"services[{index}]", out)
            for problem in out.items:
                if out.failed and problem.severity == "error":
                    problem = Problem(problem.path, problem.message + SKIPPED, "warning")
                self.top.items.append(problem)
            if draft is not None and not out.failed:
                drafts.append(draft)
        if not drafts:
            self.top.error("services", f"no valid service ({len(services)} skipped, see the warnings)")
            return
        self.plugin.services = self._assign_ids(drafts)

    def _assign_ids(self, drafts: list[_Draft]) -> list[Service]:
        # Explicit ids are reserved first so that an author's "id" never gets a -2 because an
        # earlier service happened to derive the same id from its label.
        taken: set[str] = set()
        ids: dict[int, str] = {}
        for index, draft in enumerate(drafts):
            if draft.explicit_id is not None:
                if draft.explicit_id in taken:
                    self.top.warn(
                        f"{draft.path}.id",
                        f"duplicate service id {describe(draft.explicit_id)}; this one gets a numbered suffix",
                    )
                ids[index] = service_id(self.plugin.id, draft.explicit_id, taken)
        for index, draft in enumerate(drafts):
            if draft.explicit_id is None:
                ids[index] = service_id(self.plugin.id, draft.local_id, taken)
        return [
            Service(id=ids[index], plugin_id=self.plugin.id, **draft.fields) for index, draft in enumerate(drafts)
        ]

    def _service(self, raw: object, path: str, out: _Problems) -> _Draft | None:
        if not isinstance(raw, dict):
            out.error(path, f"expected a service object, got {describe(raw)}")
            return None
        kind = raw.get("type")
        if kind is None:
            out.error(f"{path}.type", "required key missing")
            return None
        if not isinstance(kind, str) or kind not in SERVICE_TYPES:
            out.error(f"{path}.type", f"unknown service type {describe(kind)} (known: {', '.join(SERVICE_TYPES)})")
            return None
        out.unknown_keys(raw, path, SERVICE_KEYS[kind])
        explicit = out.token(raw, "id", path)
        icon = self._icon(raw.get("icon"), f"{path}.icon", out)
        common: dict[str, Any] = {"kind": ServiceKind(kind), "icon": icon if icon is not None else self.plugin.icon}
        if kind == "format":
            return self._format(raw, path, out, explicit, common)
        label = out.string(raw, "label", path)
        tooltip = out.string(raw, "tooltip", path)
        automation = kind == "automation"
        title = out.string(raw, "title", path) if automation else ""
        script = self._script(raw, "script", path, out, automation=automation)
        commands = self._script(raw, "commands", path, out, required=False, keys=COMMANDS_KEYS) if automation else None
        if script is None:
            return None
        shown = title or label
        common.update(tooltip=tooltip, script=script, commands=commands)
        common["label"] = shown or (script.function if automation else self.plugin.name)
        return _Draft(path, explicit, slugify(shown) or script.function, common)

    def _format(
        self, raw: dict[str, Any], path: str, out: _Problems, explicit: str | None, common: dict[str, Any]
    ) -> _Draft | None:
        name = out.string(raw, "name", path)
        extensions = self._extensions(raw, path, out)
        slug = out.token(raw, "slug", path)
        opener = self._script(raw, "open", path, out, required=False)
        saver = self._script(raw, "save", path, out, required=False)
        if raw.get("open") is None and raw.get("save") is None:
            out.error(path, 'a format service needs "open", "save" or both')
        auto_open = raw.get("auto_open")
        if auto_open is None:
            auto_open = True
        elif not isinstance(auto_open, bool):
            out.error(f"{path}.auto_open", f"expected true or false, got {describe(auto_open)}")
        if out.failed or not extensions:
            return None
        slug = slug or extensions[0]
        common.update(
            label=name or self.plugin.name, extensions=extensions, slug=slug, open=opener, save=saver,
            auto_open=auto_open,
        )
        return _Draft(path, explicit, slug, common)

    def _extensions(self, raw: dict[str, Any], path: str, out: _Problems) -> tuple[str, ...]:
        where = f"{path}.extensions"
        value = raw.get("extensions")
        if value is None:
            out.error(where, "required key missing")
            return ()
        if not isinstance(value, list):
            out.error(where, f"expected an array of extensions, got {describe(value)}")
            return ()
        if not value:
            out.error(where, "expected at least one extension, got []")
            return ()
        found: list[str] = []
        for index, item in enumerate(value):
            at = f"{where}[{index}]"
            if not isinstance(item, str):
                out.error(at, f"expected a string, got {describe(item)}")
                continue
            bare = item.lstrip(".")
            if not TOKEN.fullmatch(bare):
                out.error(at, f"expected an extension such as \"gcode\" ({TOKEN_RULE}), got {describe(item)}")
                continue
            if bare != item:
                out.warn(at, f"{describe(item)} starts with a dot; read as {describe(bare)} (write extensions without it)")
            found.append(bare)
        return tuple(found)

    # -- scripts --------------------------------------------------------------------------

    def _script(
        self,
        container: dict[str, Any],
        key: str,
        parent: str,
        out: _Problems,
        *,
        required: bool = True,
        automation: bool = False,
        keys: tuple[str, ...] = SCRIPT_KEYS,
    ) -> ScriptRef | None:
        """A `{module, function, settings}` object; None if absent or broken (problems recorded)."""
        path = f"{parent}.{key}"
        raw = container.get(key)
        if raw is None:
            if required:
                out.error(path, "required key missing")
            return None
        if not isinstance(raw, dict):
            shape = " and ".join(f'"{k}"' for k in keys[:2])
            out.error(path, f"expected an object with {shape}, got {describe(raw)}")
            return None
        before = len(out.items)
        out.unknown_keys(raw, path, keys)
        module, facts = self._module(raw, path, out)
        function = raw.get("function")
        what = "a class name" if automation else "a function name"
        if function is None:
            out.error(f"{path}.function", "required key missing")
        elif not isinstance(function, str) or not IDENTIFIER.fullmatch(function):
            out.error(f"{path}.function", f"expected {what} (a Python identifier), got {describe(function)}")
        elif facts is not None:
            if not facts.defines(function):
                out.error(
                    f"{path}.function",
                    f"{describe(function)} is not defined at the top level of {facts.path.name} "
                    "(no def, class, assignment or import of that name)",
                )
            elif automation and (why := check_automation_class(facts, function)):
                out.error(f"{path}.function", why)
        settings = SettingsSchema()
        if "settings" in keys and raw.get("settings") is not None:
            declared = raw["settings"]
            if isinstance(declared, list):
                settings, problems = parse_schema(declared, f"{path}.settings")
                out.items.extend(problems)
            else:
                out.error(f"{path}.settings", f"expected an array of settings objects, got {describe(declared)}")
        if any(p.severity == "error" for p in out.items[before:]) or facts is None:
            return None
        return ScriptRef(str(module), str(function), settings, facts.path)

    def _module(self, raw: dict[str, Any], path: str, out: _Problems) -> tuple[str | None, ModuleFacts | None]:
        where = f"{path}.module"
        module = raw.get("module")
        if module is None:
            out.error(where, "required key missing")
            return None, None
        if not isinstance(module, str) or not IDENTIFIER.fullmatch(module):
            out.error(
                where,
                "expected a module name in the plugin folder (letters, digits and \"_\"; no path "
                f"separators, dots or \"..\"), got {describe(module)}",
            )
            return None, None
        file = find_module(self.folder, module)
        if file is None:
            out.error(where, f"{describe(module)} not found: no {module}.py or {module}/__init__.py in the plugin folder")
            return module, None
        try:
            real = _resolve(file)
        except (OSError, RuntimeError):
            real = file
        if not _inside(real, self._real):
            out.error(where, f"{describe(module)} resolves to {real}, outside the plugin folder")
            return module, None
        if real not in self._modules:
            self._modules[real] = read_module(real)
        facts = self._modules[real]
        if isinstance(facts, str):
            out.error(where, facts)
            return module, None
        return module, facts
