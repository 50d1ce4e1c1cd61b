"""Importing a plugin's code in a worker: private module names, no shadowing, no stale bytecode.

A plugin folder becomes a synthetic package with a unique name (``_sdplugin_<id>_<hash>``),
so its `helpers.py` is ``_sdplugin_A_1234.helpers`` and never meets another plugin's. Two
finders serve it:

* a *prefix* finder (first on `sys.meta_path`) answers only names under that unique package;
* a *fallback* finder (last on `sys.meta_path`) answers a plugin's plain ``import helpers``
  with the same module object, but only after every normal finder failed — so a plugin's
  `json.py` or `mecode.py` can never shadow the standard library or an installed package.

Modules are always compiled from source (no `__pycache__` read or written): a pyc is keyed by
the source's mtime in whole seconds and its size, so an edit made within the same second could
otherwise run stale code.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types
from collections.abc import Sequence
from pathlib import Path


class FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """A source loader that never uses or writes cached bytecode."""

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        return compile(source, path, "exec", dont_inherit=True)


def _spec_for_file(fullname: str, path: Path) -> importlib.machinery.ModuleSpec | None:
    loader = FreshSourceLoader(fullname, str(path))
    search = [str(path.parent)] if path.name == "__init__.py" else None
    return importlib.util.spec_from_file_location(fullname, path, loader=loader, submodule_search_locations=search)


def _locate(folder: Path, parts: Sequence[str]) -> Path | None:
    """`a.b` inside `folder`: a/b.py or a/b/__init__.py."""
    base = folder.joinpath(*parts)
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


class _PrefixFinder(importlib.abc.MetaPathFinder):
    """Serves `<package>.<sub>...` from the plugin folder; nothing else."""

    def __init__(self, package: str, folder: Path) -> None:
        self.package = package
        self.folder = folder

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.package + "."):
            return None
        found = _locate(self.folder, fullname[len(self.package) + 1 :].split("."))
        return _spec_for_file(fullname, found) if found else None


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already-imported module under a second (plain) name."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _FallbackFinder(importlib.abc.MetaPathFinder):
    """A plain top-level `import helpers` from plugin code, when nothing installed has that name."""

    def __init__(self, package: str, folder: Path) -> None:
        self.package = package
        self.folder = folder

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if "." in fullname or _locate(self.folder, [fullname]) is None:
            return None
        module = importlib.import_module(f"{self.package}.{fullname}")
        # The alias spec keeps the private module's identity: one module object, two names.
        spec = importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), origin=getattr(module, "__file__", None))
        if getattr(module, "__path__", None) is not None:
            spec.submodule_search_locations = list(module.__path__)
        return spec


def package_name(plugin_id: str, folder: Path) -> str:
    """A valid, unique module name for a plugin folder (stable for the same id and path)."""
    safe = re.sub(r"\W", "_", plugin_id)[:40]
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    return f"_sdplugin_{safe}_{digest}"


def install(plugin_id: str, folder: Path) -> str:
    """Make `folder` importable as a private package in this process; returns the package name."""
    name = package_name(plugin_id, folder)
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = []  # imports under it go through _PrefixFinder only
        package.__package__ = name
        sys.modules[name] = package
        sys.meta_path.insert(0, _PrefixFinder(name, folder))
        sys.meta_path.append(_FallbackFinder(name, folder))
    return name


def load_module(plugin_id: str, folder: Path, module: str, module_path: Path) -> types.ModuleType:
    """Import a plugin's module (by its exact file) under the plugin's private package."""
    package = install(plugin_id, folder)
    # A script file's stem may hold dots or dashes; only a manifest's dotted module names nest.
    located = _locate(folder, module.split("."))
    nested = located is not None and located.resolve() == module_path.resolve()
    parts = module.split(".") if nested else [re.sub(r"\W", "_", module)]
    for depth in range(1, len(parts)):
        importlib.import_module(".".join([package, *parts[:depth]]))
    fullname = ".".join([package, *parts])
    if fullname in sys.modules:
        return sys.modules[fullname]
    spec = _spec_for_file(fullname, module_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_path}")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[fullname] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[fullname]
        raise
    return loaded
