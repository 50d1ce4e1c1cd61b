"""Automation script files (seed 000): one `.py` file with magic variables becomes one Plugin.

The file is read with `ast` (see _scriptast.py) and never imported in this process. Only when
a magic variable is not a literal is the file imported, in a child process (_scriptprobe.py)
with a time limit; several such imports run in parallel, so hanging files cost one limit,
not one limit each.

    >>> load_script_file(Path("scripts/purge.py"), Path("scripts"))  # doctest: +SKIP
    Plugin(id='purge', kind='script', name='Purge line', services=[Service(id='purge', ...)], ...)
"""

from __future__ import annotations

import ast
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scriptdeck.plugins._scriptast import CallableFacts, Params, ScriptFacts, read_facts
from scriptdeck.plugins.model import Plugin, PluginStatus, ScriptRef, Service, ServiceKind
from scriptdeck.settings.fields import describe, parse_schema

if TYPE_CHECKING:
    import subprocess

# subprocess, signal and concurrent.futures (which pulls in logging) are imported only by the
# import fallback: discovery of literal scripts, the common case, never needs them.

__all__ = ["IMPORT_TIMEOUT", "MAX_PARALLEL_IMPORTS", "load_script_file", "load_script_files"]

IMPORT_TIMEOUT = 10.0  # seconds an import fallback may take before the file is reported as hanging
MAX_PARALLEL_IMPORTS = 16  # the children mostly wait (on the script, or on the time limit)
RESERVED_IDS = ("cancel",)  # the original host's cancel command shares the id namespace
# A file that assigns none of these is not a script. One that assigns a title or an object but
# forgot its id is reported (rather than silently ignored) so the author learns why it is missing.
_MARKERS = (b"__script_id__", b"__script_title__", b"__script_obj__")
_PROBE = Path(__file__).with_name("_scriptprobe.py")
_OPAQUE = "__scriptdeck_opaque__"  # the child marks values JSON cannot carry with this key


class _Opaque:
    """A value the import fallback could not send as JSON; messages show its repr."""

    def __init__(self, shown: str) -> None:
        self.shown = shown

    def __repr__(self) -> str:
        return self.shown


@dataclass
class _Pending:
    """A file whose magic variables need the import fallback."""

    path: Path
    unknown: list[str]
    description: str


def load_script_file(path: Path, root: Path, *, import_timeout: float | None = None) -> Plugin | None:
    """The Plugin a script file declares, or None when the file is not a script (no magic variables)."""
    return load_script_files([path], root, import_timeout=import_timeout)[0]


def load_script_files(
    paths: Sequence[Path], root: Path, *, import_timeout: float | None = None
) -> list[Plugin | None]:
    """One entry per path: its Plugin (errors included), or None for a `.py` file that is no script.

    Files that need the import fallback are imported in parallel child processes, each limited
    to `import_timeout` seconds (default IMPORT_TIMEOUT).
    """
    timeout = IMPORT_TIMEOUT if import_timeout is None else import_timeout
    staged: list[Plugin | _Pending | None] = [
        _read(path if isinstance(path, Path) else Path(path), root) for path in paths
    ]
    pending = [item for item in staged if isinstance(item, _Pending)]
    imported: dict[int, ScriptFacts | str] = {}
    if pending:
        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(pending), MAX_PARALLEL_IMPORTS)
        with ThreadPoolExecutor(workers, thread_name_prefix="scriptdeck-probe") as pool:
            results = pool.map(lambda item: _import_facts(item.path, item.unknown, timeout), pending)
            imported = {id(item): result for item, result in zip(pending, results, strict=True)}
    out: list[Plugin | None] = []
    for item in staged:
        if not isinstance(item, _Pending):
            out.append(item)
            continue
        result = imported[id(item)]
        if isinstance(result, str):
            plugin = Plugin(id=item.path.stem, kind="script", path=item.path, root=root, name=item.path.stem)
            plugin.description = item.description
            plugin.errors.append(f"{item.path}: {result}")
            plugin.status = PluginStatus.ERROR
        else:
            plugin = _build(item.path, root, result, item.description)
        plugin.cacheable = False
        out.append(plugin)
    return out


def _read(path: Path, root: Path) -> Plugin | _Pending | None:
    try:
        source = path.read_bytes()
    except OSError as exc:
        return _broken(path, root, f"cannot read the file: {exc.strerror or exc}")
    # Most .py files on a search path are helpers, not scripts: skip them without parsing.
    if not any(marker in source for marker in _MARKERS):
        return None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        where = f"{exc.lineno}:{exc.offset}" if exc.offset else f"{exc.lineno}"
        return _broken(path, root, f"syntax error: {exc.msg}", where)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return _broken(path, root, f"cannot parse the file: {exc}")
    found = read_facts(tree, source)
    if found is None:  # the names only appear in a comment or a string
        return None
    facts, unknown = found
    description = _first_paragraph(ast.get_docstring(tree) or "")
    if unknown:
        return _Pending(path, unknown, description)
    plugin = _build(path, root, facts, description)
    plugin.warnings.extend(_misspelt_variables(tree, path))
    return plugin


_MAGIC = ("__script_id__", "__script_title__", "__script_obj__", "__script_settings__",
          "__script_version__", "__script_commands__")


def _misspelt_variables(tree: ast.Module, path: Path) -> list[str]:
    """Top-level dunder names that look like a magic variable mistyped: the host would silently
    see no settings (say) where the author wrote `__scirpt_settings__`."""
    import difflib

    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    out = []
    for name in dict.fromkeys(names):
        if name in _MAGIC or not (name.startswith("__") and name.endswith("__")):
            continue
        close = difflib.get_close_matches(name, _MAGIC, n=1, cutoff=0.8)
        if close:
            out.append(f"{path}: {name}: not a script variable; did you mean {close[0]}? (ignored)")
    return out


def _broken(path: Path, root: Path, message: str, where: str = "") -> Plugin:
    """A file that looks like a script (it mentions the magic names) but cannot be read at all."""
    location = f"{path}:{where}" if where else str(path)
    return Plugin(
        id=path.stem,
        kind="script",
        path=path,
        root=root,
        name=path.stem,
        errors=[f"{location}: {message}"],
        status=PluginStatus.ERROR,
    )


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


def _build(path: Path, root: Path, facts: ScriptFacts, description: str) -> Plugin:
    """Validate the facts (seed 000's rules) and turn them into a Plugin."""
    errors: list[str] = []
    warnings: list[str] = []

    def error(variable: str, message: str) -> None:
        errors.append(f"{path}: {variable}: {message}")

    values = facts.values
    script_id = values.get("__script_id__")
    if "__script_id__" not in values:
        error("__script_id__", "required variable missing")
    elif not isinstance(script_id, str):
        error("__script_id__", f"expected a string, got {describe(script_id)}")
    elif not script_id:
        error("__script_id__", "must not be empty")
    elif any(c.isspace() or c == "-" for c in script_id):
        error("__script_id__", f"{describe(script_id)} must not contain spaces or dashes")
    elif script_id in RESERVED_IDS:
        error("__script_id__", f"{describe(script_id)} is reserved (the host's cancel command)")
    plugin_id = script_id if isinstance(script_id, str) and script_id else path.stem

    title = values.get("__script_title__")
    if "__script_title__" not in values:
        error("__script_title__", "required variable missing")
    elif not isinstance(title, str):
        error("__script_title__", f"expected a string, got {describe(title)}")
    elif not title.strip():
        error("__script_title__", "must not be empty")
    name = title if isinstance(title, str) and title.strip() else plugin_id

    version = values.get("__script_version__", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        warnings.append(
            f"{path}: __script_version__: expected a non-negative integer, got {describe(version)}; using 0"
        )
        version = 0

    raw_settings = values.get("__script_settings__")
    if raw_settings is not None and not isinstance(raw_settings, dict | list):
        error(
            "__script_settings__",
            f"expected a dict of defaults or a list of typed settings, got {describe(raw_settings)}",
        )
        raw_settings = None
    schema, problems = parse_schema(raw_settings, "__script_settings__")
    for problem in problems:
        (errors if problem.severity == "error" else warnings).append(problem.render(str(path)))

    obj_name = _check_obj(facts.obj, error)
    commands = _check_commands(facts.commands, error)

    plugin = Plugin(
        id=plugin_id,
        kind="script",
        path=path,
        root=root,
        name=name,
        description=description,
        version=version,
        errors=errors,
        warnings=warnings,
    )
    if errors or obj_name is None:
        plugin.status = PluginStatus.ERROR
        return plugin
    module = path.stem
    plugin.services.append(
        Service(
            id=plugin_id,
            kind=ServiceKind.AUTOMATION,
            plugin_id=plugin_id,
            label=name,
            script=ScriptRef(module=module, function=obj_name, settings=schema, path=path),
            commands=ScriptRef(module=module, function=commands.name, path=path) if commands else None,
            commands_literal=commands.literal if commands else None,
        )
    )
    return plugin


def _check_obj(obj: CallableFacts | None, error: Callable[[str, str], None]) -> str | None:
    """The class name to instantiate, or None after reporting why `__script_obj__` is unusable."""
    variable = "__script_obj__"
    if obj is None:
        error(variable, "required variable missing")
        return None
    if obj.kind == "undefined":
        error(variable, f"{obj.shown} is not defined in the file")
        return None
    if obj.kind != "class":
        error(variable, f"expected a class, got {obj.shown}")
        return None
    ok = True
    cls = obj.shown.removeprefix("the class ")
    if obj.init is None:
        error(variable, f"{cls} has no __init__(self, g, logger, settings)")
        ok = False
    elif not obj.init.accepts(3, method=True):
        error(variable, f"{obj.init.render(cls + '.__init__')} must take (self, g, logger, settings)")
        ok = False
    if obj.run is None:
        error(variable, f"{cls} has no run(self) method")
        ok = False
    elif obj.run.is_async:
        error(variable, f"{cls}.run must be a plain def, not async def")
        ok = False
    elif not obj.run.accepts(0, method=True):
        error(variable, f"{obj.run.render(cls + '.run')} must take no arguments besides self")
        ok = False
    return obj.name if ok else None


def _check_commands(commands: CallableFacts | None, error: Callable[[str, str], None]) -> CallableFacts | None:
    variable = "__script_commands__"
    if commands is None:
        return None
    if commands.kind == "undefined":
        error(variable, f"{commands.shown} is not defined in the file")
        return None
    if commands.kind == "other":
        error(variable, f"expected a callable taking the settings dict, got {commands.shown}")
        return None
    params = commands.params
    if params is not None and (params.is_async or not params.accepts(1, method=False)):
        shown = params.render("lambda" if commands.kind == "lambda" else commands.name)
        error(variable, f"{shown} must take one argument (the settings dict)")
        return None
    return commands


# -- the import fallback ----------------------------------------------------------------------


def _import_facts(path: Path, unknown: list[str], timeout: float) -> ScriptFacts | str:
    """Import `path` in a child process and read its magic variables; a message when that fails."""
    plural = "are" if len(unknown) > 1 else "is"
    why = f"importing the file (needed because {', '.join(unknown)} {plural} not literal)"
    import signal
    import subprocess

    command = [sys.executable, "-I", "-B", str(_PROBE), str(path), _OPAQUE]
    try:
        child = subprocess.Popen(
            command,
            cwd=path.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a timeout can kill whatever the script started too
        )
    except OSError as exc:
        return f"{why} failed: cannot start {sys.executable}: {exc.strerror or exc}"
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(child)
        return f"{why} timed out after {timeout:g} s"
    try:
        report = json.loads(out, object_hook=_decode)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        if child.returncode < 0:
            return f"{why} failed: the process was killed by {signal.Signals(-child.returncode).name}"
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        detail = f": {last[0]}" if last[0] else ""
        return f"{why} failed: the process exited with status {child.returncode}{detail}"
    if "error" in report:
        return f"{why} failed: {report['error']}"
    return _facts_from_report(report)


def _kill(child: subprocess.Popen[bytes]) -> None:
    import signal
    import subprocess

    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        child.kill()
    try:
        child.communicate(timeout=2)
    except subprocess.TimeoutExpired:  # a grandchild that left the group still holds the pipes
        pass


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _OPAQUE in obj:
        return _Opaque(str(obj[_OPAQUE]))
    return obj


def _params(raw: Any) -> Params | None:
    if not isinstance(raw, dict):
        return None
    if raw.get("unknown"):
        return Params(unknown=True)
    return Params(
        tuple(raw.get("positional", ())),
        int(raw.get("required", 0)),
        raw.get("varargs"),
        tuple(raw.get("required_kwonly", ())),
        raw.get("varkw"),
        bool(raw.get("is_async")),
    )


def _callable(raw: Any) -> CallableFacts | None:
    if not isinstance(raw, dict):
        return None
    return CallableFacts(
        kind=str(raw["kind"]),
        name=str(raw["name"]),
        shown=str(raw.get("shown", "")),
        params=_params(raw.get("params")),
        init=_params(raw.get("init")),
        run=_params(raw.get("run")),
    )


def _facts_from_report(report: dict[str, Any]) -> ScriptFacts:
    values = report.get("values")
    return ScriptFacts(
        values=dict(values) if isinstance(values, dict) else {},
        obj=_callable(report.get("obj")),
        commands=_callable(report.get("commands")),
    )
