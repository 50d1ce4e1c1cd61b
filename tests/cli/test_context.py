"""The global options every sub-command shares: a data dir that cannot be one is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptdeck.cli import main

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated")]


@pytest.mark.parametrize("command", [["run", "HelloWorld"], ["list"], ["history"]])
def test_data_dir_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            command: list[str]) -> None:
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    assert main(["--data-dir", str(file), *command]) == 2
    err = capsys.readouterr().err
    assert f"error: --data-dir: {str(file)!r} is a file; expected a directory" in err
    assert "Traceback" not in err


def test_data_dir_inside_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    assert main(["--data-dir", str(file / "data"), "list"]) == 2
    assert f"is inside {str(file)!r}, a file; expected a directory" in capsys.readouterr().err


def test_scriptdeck_home_that_is_a_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    monkeypatch.setenv("SCRIPTDECK_HOME", str(file))
    assert main(["list"]) == 2
    assert "error: $SCRIPTDECK_HOME: " in capsys.readouterr().err


def test_missing_data_dir_is_created(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    assert main(["--data-dir", str(data), "run", "HelloWorld"]) == 0
    assert data.is_dir()
