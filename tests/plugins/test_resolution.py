"""Resolving plugin paths within a batch gives exactly what Path.resolve() gives."""

from __future__ import annotations

import os
from pathlib import Path

from scriptdeck.plugins import manifest
from scriptdeck.plugins.manifest import shared_resolution


def test_shared_resolution_equals_path_resolve(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "P").mkdir(parents=True)
    (real / "P" / "mod.py").write_text("")
    (tmp_path / "elsewhere.py").write_text("")
    (real / "P" / "link.py").symlink_to(tmp_path / "elsewhere.py")
    (tmp_path / "root").symlink_to(real)  # a root that is itself a link
    (real / "Q").symlink_to(real / "P")  # a plugin folder that is a link
    cases = [
        tmp_path / "root" / "P",
        tmp_path / "root" / "P" / "mod.py",
        tmp_path / "root" / "P" / "link.py",
        tmp_path / "root" / "Q",
        tmp_path / "root" / "Q" / "mod.py",
        tmp_path / "root" / "P" / "missing.py",
        Path(os.path.relpath(tmp_path / "root" / "P" / "mod.py")),
    ]
    with shared_resolution():
        fast = [manifest._resolve(path) for path in cases]
        assert manifest._real_dirs  # the roots were remembered...
    assert manifest._real_dirs is None  # ...for this batch only
    assert fast == [path.resolve() for path in cases]


def test_inside_equals_is_relative_to() -> None:
    base = Path("/a/b")
    for path in ("/a/b", "/a/b/c.py", "/a/bc/d.py", "/a", "/x/a/b", "/a/b/c/d/e.py", "/"):
        assert manifest._inside(Path(path), base) == Path(path).is_relative_to(base)
    assert manifest._inside(Path("/anything"), Path("/"))
