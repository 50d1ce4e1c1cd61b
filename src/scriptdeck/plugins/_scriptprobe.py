"""Child process of the script-file import fallback: import one script, print its magic variables.

Run as `python -I -B _scriptprobe.py SCRIPT OPAQUE_KEY` with the script's folder as cwd. Standard library
only, and never imported by scriptdeck itself: it runs plugin code, so it lives in its own
process that the parent kills when it takes too long. Prints one JSON object on the original
stdout; whatever the script prints goes to stderr so it cannot corrupt the report.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

_VALUES = ("__script_id__", "__script_title__", "__script_settings__", "__script_version__")


def _shown(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _params(fn: object) -> dict[str, Any]:
    try:
        signature = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {"unknown": True}
    positional: list[str] = []
    required = 0
    out: dict[str, Any] = {"required_kwonly": []}
    for p in signature.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional.append(p.name)
            required += p.default is p.empty
        elif p.kind == p.VAR_POSITIONAL:
            out["varargs"] = p.name
        elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
            out["required_kwonly"].append(p.name)
        elif p.kind == p.VAR_KEYWORD:
            out["varkw"] = p.name
    out.update(positional=positional, required=required, is_async=inspect.iscoroutinefunction(fn))
    return out


def _attribute(module: object, value: object, fallback: str) -> str:
    """The module attribute the runner can look the object up by."""
    name = getattr(value, "__name__", None)
    if isinstance(name, str) and getattr(module, name, None) is value:
        return name
    return fallback


def _callable(module: object, variable: str, value: object) -> dict[str, Any] | None:
    if value is None:  # `__script_commands__ = None` means no commands; the parent refuses a None obj
        return None if variable == "__script_commands__" else {"kind": "other", "name": variable, "shown": "null"}
    if inspect.isclass(value):
        init = value.__init__
        run = inspect.getattr_static(value, "run", None)
        return {
            "kind": "class",
            "name": _attribute(module, value, variable),
            "shown": f"the class {value.__name__}",
            "init": None if init is object.__init__ else _params(init),
            "run": None if run is None else _params(run) if inspect.isfunction(run) else {"unknown": True},
        }
    if inspect.isfunction(value):
        is_lambda = value.__name__ == "<lambda>"
        return {
            "kind": "lambda" if is_lambda else "function",
            "name": variable if is_lambda else _attribute(module, value, variable),
            "shown": "a lambda" if is_lambda else f"the function {value.__name__}",
            "params": _params(value),
        }
    if callable(value):
        return {"kind": "callable", "name": variable, "shown": _shown(value), "params": _params(value)}
    return {"kind": "other", "name": variable, "shown": _shown(value)}


def _where(exc: BaseException, script: Path) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == script]
    return f"line {lines[-1]}: " if lines and lines[-1] else ""


def probe(script: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(script.stem, script)
    if spec is None or spec.loader is None:
        return {"error": "not an importable Python file"}
    module = importlib.util.module_from_spec(spec)
    sys.modules[script.stem] = module  # like a real import: dataclasses and pickle look it up
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        return {"error": f"the file called sys.exit({exc.code!r}) while being imported"}
    except BaseException as exc:  # the script's own failure, whatever it is, is the report
        return {"error": f"{_where(exc, script)}{type(exc).__name__}: {exc}"}
    found = vars(module)
    return {
        "values": {name: found[name] for name in _VALUES if name in found},
        "obj": _callable(module, "__script_obj__", found["__script_obj__"]) if "__script_obj__" in found else None,
        "commands": _callable(module, "__script_commands__", found.get("__script_commands__")),
    }


def main() -> None:
    script = Path(sys.argv[1]).resolve()
    opaque = sys.argv[2]  # the key that marks a value JSON cannot carry; the parent shows its repr
    # -I left this file's folder (scriptdeck/plugins) first on sys.path; the script expects its own.
    sys.path[0] = str(script.parent)
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        result = probe(script)
    except BaseException as exc:  # e.g. a __script_obj__ whose attribute access raises
        result = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        text = json.dumps(result, default=lambda o: {opaque: _shown(o)})
    except (TypeError, ValueError):  # tuple keys, cycles: show each value as its repr
        result["values"] = {k: {opaque: _shown(v)} for k, v in result.get("values", {}).items()}
        text = json.dumps(result, default=lambda o: {opaque: _shown(o)})
    report.write(text)
    report.flush()
    os._exit(0)  # skip atexit handlers and non-daemon threads the script may have started


if __name__ == "__main__":
    main()
