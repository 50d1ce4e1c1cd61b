"""Static facts about a plugin's Python source, read with `ast` (discovery never imports plugin code).

Used by the manifest loader to check that `module`/`function` name something real and that an
automation class has the constructor and `run()` the host calls.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ModuleFacts", "check_automation_class", "find_module", "read_module"]


@dataclass(frozen=True)
class ModuleFacts:
    """The names a module binds at its top level, and the statement that bound each one last."""

    path: Path
    names: dict[str, ast.stmt] = field(default_factory=dict)
    star_import: bool = False  # `from x import *`: any name may exist, we cannot tell which

    def defines(self, name: str) -> bool:
        return name in self.names or self.star_import


def find_module(folder: Path, module: str) -> Path | None:
    """`<folder>/<module>.py` or the package `<folder>/<module>/__init__.py`, whichever exists first.

    `module` must already be a plain identifier; the caller checks containment of the result.
    """
    # Built one at a time: the second candidate is rarely needed and a Path costs ~5 us.
    for make in (lambda: folder / f"{module}.py", lambda: folder / module / "__init__.py"):
        candidate = make()
        try:
            if candidate.is_file():
                return candidate
        except (OSError, ValueError):  # a name too long for the file system is simply "not there"
            continue
    return None


def read_module(path: Path) -> ModuleFacts | str:
    """Parse `path` and collect its top-level bindings; a message (str) when it cannot be parsed."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        return f"cannot read {path.name}: {exc.strerror or exc}"
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        return f"{path.name} does not parse: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return f"{path.name} does not parse: {exc}"
    names: dict[str, ast.stmt] = {}
    star = _collect(tree.body, names)
    return ModuleFacts(path, names, star)


def _collect(body: list[ast.stmt], names: dict[str, ast.stmt]) -> bool:
    """Record top-level bindings, looking inside `if`/`try`/`with` blocks (conditional definitions
    such as `try: import fast except ImportError: def fast(...)` are common) but not inside defs."""
    star = False
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _targets(target, node, names)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            _targets(node.target, node, names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = node
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    names[alias.asname or alias.name] = node
        elif isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While):
            star |= _collect(node.body, names) | _collect(node.orelse, names)
        elif isinstance(node, ast.With | ast.AsyncWith):
            star |= _collect(node.body, names)
        elif isinstance(node, ast.Try | ast.TryStar):
            star |= _collect(node.body, names) | _collect(node.orelse, names) | _collect(node.finalbody, names)
            for handler in node.handlers:
                star |= _collect(handler.body, names)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                star |= _collect(case.body, names)
    return star


def _targets(target: ast.expr, node: ast.stmt, names: dict[str, ast.stmt]) -> None:
    if isinstance(target, ast.Name):
        names[target.id] = node
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            _targets(element, node, names)
    elif isinstance(target, ast.Starred):
        _targets(target.value, node, names)


def _accepts_positional(fn: ast.FunctionDef | ast.AsyncFunctionDef, count: int) -> bool:
    """Can `fn` be called with exactly `count` positional arguments (self included)?"""
    args = fn.args
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    if count < required or (count > positional and args.vararg is None):
        return False
    # A keyword-only argument without a default can never be supplied by the host.
    return all(default is not None for default in args.kw_defaults)


def check_automation_class(facts: ModuleFacts, name: str) -> str | None:
    """Why `name` in `facts` cannot serve as an automation object, or None when it can (or we cannot tell).

    The host does `obj = Cls(g, logger, settings)` then `obj.run()`. A name bound by an import or an
    assignment may well be a class, so only a `def` or a class visibly missing a method is refused.
    Methods a class does not define itself may come from a base class; those are trusted.
    """
    node = facts.names.get(name)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return f"{name!r} in {facts.path.name} is a function; an automation script names a class"
    if not isinstance(node, ast.ClassDef):
        return None
    methods = {
        item.name: item for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    inherits = bool(node.bases)
    init = methods.get("__init__")
    if init is None and not inherits:
        return f"class {name} in {facts.path.name} has no __init__(self, g, logger, settings)"
    if init is not None and not _accepts_positional(init, 4):
        return (
            f"{name}.__init__({ast.unparse(init.args)}) in {facts.path.name} cannot be called as "
            "__init__(self, g, logger, settings)"
        )
    run = methods.get("run")
    if run is None and not inherits:
        return f"class {name} in {facts.path.name} has no run(self) method"
    if run is not None and not _accepts_positional(run, 1):
        return f"{name}.run({ast.unparse(run.args)}) in {facts.path.name} cannot be called as run(self)"
    return None
