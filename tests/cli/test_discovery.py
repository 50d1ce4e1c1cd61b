"""`scriptdeck list / check / schema / enable / disable / settings` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptdeck.cli import main

ACTION = {
    "engine": "python",
    "version": 3,
    "services": [
        {
            "type": "action",
            "label": "Pause at Z",
            "script": {
                "module": "act",
                "function": "main",
                "settings": [
                    {"name": "z", "type": "float", "default": 1.0, "min": 0},
                    {"name": "count", "type": "int", "default": 2},
                    {"name": "mode", "type": "choice", "choices": ["M0", "M600"]},
                ],
            },
        }
    ],
}


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    root = tmp_path / "plugins"
    folder = root / "Tool"
    folder.mkdir(parents=True)
    (folder / "act.py").write_text("def main(window, document, settings):\n    pass\n")
    (folder / "plugin.json").write_text(json.dumps(ACTION))
    return root


def run(tmp_path: Path, plugins: Path, *args: str) -> int:
    return main(["--data-dir", str(tmp_path / "data"), "--no-examples", "--plugin-path", str(plugins), *args])


def test_list_json(tmp_path: Path, plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, plugins, "list", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    (plugin,) = data["plugins"]
    assert plugin["id"] == "Tool" and plugin["status"] == "ok" and plugin["version"] == 3
    assert plugin["kind"] == "manifest"
    (service,) = plugin["services"]
    assert service["id"] == "Tool/pause-at-z"
    assert [s["name"] for s in service["settings"]] == ["z", "count", "mode"]


def test_list_table(tmp_path: Path, plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, plugins, "list") == 0
    out = capsys.readouterr().out
    assert "Tool/pause-at-z" in out and "ok" in out


def test_check_exit_codes(tmp_path: Path, plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(plugins / "Tool")]) == 0
    (plugins / "Tool" / "plugin.json").write_text('{"engine": "python"}')
    assert main(["check", str(plugins / "Tool" / "plugin.json")]) == 1
    assert "services" in capsys.readouterr().out


def test_check_missing_path_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "services" in schema["required"]


def test_settings_set_show_reset(tmp_path: Path, plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, plugins, "settings", "Tool", "--set", "z=2.5", "--set", "mode=M600", "--json") == 0
    assert json.loads(capsys.readouterr().out)["values"] == {"z": 2.5, "count": 2, "mode": "M600"}
    assert run(tmp_path, plugins, "settings", "Tool/pause-at-z", "--json") == 0
    assert json.loads(capsys.readouterr().out)["values"]["z"] == 2.5
    assert run(tmp_path, plugins, "settings", "Tool", "--reset", "--json") == 0
    assert json.loads(capsys.readouterr().out)["values"] == {"z": 1.0, "count": 2, "mode": "M0"}


def test_settings_bad_value_exits_2_and_stores_nothing(
    tmp_path: Path, plugins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, plugins, "settings", "Tool", "--set", "count=7", "--set", "z=-1") == 2
    assert "z: -1.0 is below the minimum 0" in capsys.readouterr().err
    assert run(tmp_path, plugins, "settings", "Tool", "--json") == 0
    assert json.loads(capsys.readouterr().out)["values"]["count"] == 2


def test_enable_disable(tmp_path: Path, plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, plugins, "disable", "Tool") == 0
    assert run(tmp_path, plugins, "list", "--json") == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["plugins"][0]["status"] == "disabled"
    assert run(tmp_path, plugins, "enable", "Tool") == 0
    assert run(tmp_path, plugins, "disable", "Nope") == 2


def test_list_on_a_fresh_data_dir_opens_no_settings_database(tmp_path: Path) -> None:
    from scriptdeck.settings.store import DB_NAME

    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "--no-examples", "list", "--json"]) == 0
    assert not (data / DB_NAME).exists()  # nothing is disabled before the database exists


def test_a_skipped_service_is_flagged_by_check_and_named_by_run(tmp_path: Path, plugins: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.loads(json.dumps(ACTION))
    manifest["services"].append({"type": "action", "label": "Other", "script": {"module": "act", "function": "other"}})
    (plugins / "Tool" / "plugin.json").write_text(json.dumps(manifest))
    (plugins / "Tool" / "act.py").write_text("def mian(window, document, settings):\n    pass\n\n\n"  # a typo
                                             "def other(window, document, settings):\n    pass\n")
    assert main(["check", str(plugins / "Tool")]) == 0  # warnings, not errors
    assert "ok, but 1 service(s) skipped" in capsys.readouterr().out
    assert run(tmp_path, plugins, "run", "Tool/pause-at-z") == 2
    err = capsys.readouterr().err
    assert "plugin 'Tool' skipped" in err and '"main" is not defined' in err, err


def test_settings_set_wins_over_the_last_used_values(tmp_path: Path, plugins: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "job.gcode"
    job.write_text("G28\n")
    assert run(tmp_path, plugins, "run", "Tool", "--doc", str(job), "--set", "count=5") == 0  # remembered
    assert run(tmp_path, plugins, "settings", "Tool", "--set", "count=3", "--json") == 0
    assert json.loads(capsys.readouterr().out)["values"]["count"] == 3  # what the next run gets
    assert run(tmp_path, plugins, "run", "Tool", "--doc", str(job)) == 0
    capsys.readouterr()
    assert run(tmp_path, plugins, "history", "--json") == 0
    last = json.loads(capsys.readouterr().out)["runs"][0]
    assert run(tmp_path, plugins, "history", "show", last["id"], "--json") == 0
    assert json.loads(capsys.readouterr().out)["settings"]["count"] == 3
