"""The search path order and the data dir choice."""

from __future__ import annotations

import os
from pathlib import Path

from scriptdeck.plugins.searchpath import data_dir, examples_dir, search_path


def test_data_dir_precedence(tmp_path: Path) -> None:
    assert data_dir(tmp_path / "x", env={"SCRIPTDECK_HOME": "/elsewhere"}) == (tmp_path / "x").resolve()
    assert data_dir(None, env={"SCRIPTDECK_HOME": str(tmp_path)}) == tmp_path.resolve()
    assert data_dir(None, env={}).name == "scriptdeck"


def test_search_path_order(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    roots = search_path(
        [a], tmp_path / "data", env={"SCRIPTDECK_PLUGIN_PATH": f"{b}{os.pathsep}{c}"}, home=tmp_path / "home"
    )
    paths = [r.path for r in roots]
    assert paths[:6] == [a, b, c, tmp_path / "data" / "plugins", tmp_path / "data" / "scripts",
                         tmp_path / "home" / ".mecodescripts"]
    assert roots[-1].origin == "examples" and roots[-1].path == examples_dir()


def test_no_examples(tmp_path: Path) -> None:
    roots = search_path([], tmp_path, include_examples=False, env={}, home=tmp_path)
    assert all(r.origin != "examples" for r in roots)
