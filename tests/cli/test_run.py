"""`scriptdeck run` and `scriptdeck history` from the command line."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from scriptdeck.cli import main

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCRIPTDECK_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("SCRIPTDECK_PLUGIN_PATH", raising=False)


def test_seed_hello_world_warning_reaches_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "HelloWorld"]) == 0
    out, err = capsys.readouterr()
    assert "warning: Hello World" in err
    assert out == ""
    assert main(["run", "HelloWorld", "--set", "greeting=Good morning"]) == 0
    assert "warning: Good morning" in capsys.readouterr().err


def test_json_events_are_one_envelope_per_line_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "HelloWorld", "--json-events", "--set", "greeting=hey"]) == 0
    out, err = capsys.readouterr()
    envelopes = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in envelopes] == ["ActionStarted", "RunMessage", "ActionFinished"]
    assert all(set(e) == {"event", "payload", "run_id", "time"} for e in envelopes)
    assert envelopes[1]["payload"]["message"] == "hey"
    assert "warning: hey" in err


def test_bad_input_exits_2_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "HelloWorld", "--set", "nope=1"]) == 2
    assert "nope: no such setting" in capsys.readouterr().err
    assert main(["run", "NoSuchThing"]) == 2
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"runs": []}


def test_failed_script_exits_1_and_history_shows_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "bad.py").write_text(textwrap.dedent("""
        __script_id__ = "bad"
        __script_title__ = "Bad"
        class S:
            def __init__(self, g, logger, settings):
                self.script_status = None
            def run(self):
                raise RuntimeError("nozzle clogged")
        __script_obj__ = S
    """))
    assert main(["--plugin-path", str(scripts), "--no-examples", "run", "bad"]) == 1
    err = capsys.readouterr().err
    assert "bad: error: RuntimeError: nozzle clogged" in err
    assert main(["history", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["service_id"], r["outcome"]) for r in runs] == [("bad", "error")]
    assert main(["history", "show", runs[0]["id"][:8], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert any("nozzle clogged" in (r["exc_text"] or "") for r in shown["log"])


def test_action_with_doc_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "plugins" / "Mark"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({"engine": "python", "services": [
        {"type": "action", "label": "Mark", "script": {"module": "m", "function": "main"}}]}))
    (folder / "m.py").write_text("def main(window, document, settings):\n    document.append('M117 marked')\n")
    doc = tmp_path / "job.gcode"
    doc.write_bytes(b"G28\r\n")
    out = tmp_path / "out.gcode"
    assert main(["--plugin-path", str(tmp_path / "plugins"), "run", "Mark", "--doc", str(doc), "--out", str(out)]) == 0
    assert out.read_bytes() == b"G28\r\nM117 marked\r\n"


@pytest.mark.parametrize("out", ["missing-folder/x.gcode", "."])
def test_an_unwritable_out_is_refused_before_the_action_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              out: str) -> None:
    job = tmp_path / "job.gcode"
    job.write_text("G28\nG1 X1 F3000\n")
    target = str(tmp_path / out)
    assert main(["run", "PostProcess/search-and-replace", "--doc", str(job), "--set", "find=F3000",
                 "--set", "replace=F1500", "--out", target]) == 2
    assert re.search(r"error: --out .*(does not exist|is a folder)", capsys.readouterr().err)
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []  # nothing ran


def test_a_machine_that_cannot_be_opened_is_one_error_and_no_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "purge_line", "--machine", "virtual://?nope=1"]) == 2  # bad input, as on print
    err = capsys.readouterr().err
    assert err.count("unknown option 'nope'") == 1, err
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []


def test_doc_that_is_binary_is_refused_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "job.gcode"
    doc.write_bytes(b"G28\n\x00\x01\x02binary")
    assert main(["run", "PostProcess/search-and-replace", "--doc", str(doc), "--set", "find=G28",
                 "--set", "replace=G28 X"]) == 2
    assert "control byte" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["purge_line", "--doc", "job.gcode"],
     "--doc: only for an action or a format; purge_line is an automation script"),
    (["purge_line", "--out", "out.gcode"],
     "--out: only for an action or a format; purge_line is an automation script"),
    (["purge_line", "--defaults"],
     "--defaults: only for an action or a format; purge_line is an automation script"),
    (["PostProcess/search-and-replace", "--doc", "job.gcode", "--direction", "open"],
     "--direction: only for a format; PostProcess/search-and-replace is an action"),
    (["PostProcess/search-and-replace", "--doc", "job.gcode", "--machine", "virtual://"],
     "--machine: only for an automation script; PostProcess/search-and-replace is an action"),
    (["PostProcess/search-and-replace", "--doc", "job.gcode", "--abort-line", "M104 S0"],
     "--abort-line: only for an automation script; PostProcess/search-and-replace is an action"),
    (["CsvPoints/csv", "--doc", "points.csv", "--machine", "virtual://"],
     "--machine: only for an automation script; CsvPoints/csv is a format"),
    (["CsvPoints/csv", "--doc", "points.csv", "--abort-line", "M104 S0"],
     "--abort-line: only for an automation script; CsvPoints/csv is a format"),
])
def test_an_option_that_does_not_apply_to_the_service_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.gcode").write_text("G28\n")
    (tmp_path / "points.csv").write_text("0,0\n1,1\n")
    assert main(["run", *argv]) == 2
    assert f"error: {message}\n" in capsys.readouterr().err
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []  # nothing ran
    assert not (tmp_path / "out.gcode").exists()


def test_the_options_that_apply_are_still_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = tmp_path / "points.csv"
    points.write_text("0,0\n1,1\n")
    out = tmp_path / "points.gcode"
    assert main(["run", "CsvPoints/csv", "--direction", "open", "--doc", str(points), "--out", str(out),
                 "--defaults"]) == 0
    assert "G1 X1 Y1" in out.read_text()
    assert main(["run", "purge_line", "--machine", "record://", "--abort-line", "M104 S0", "--timeout", "0"]) == 0


@pytest.mark.parametrize("timeout", ["-1", "nan"])
def test_a_negative_timeout_is_refused(capsys: pytest.CaptureFixture[str], timeout: str) -> None:
    assert main(["run", "HelloWorld", "--timeout", timeout]) == 2
    assert "error: --timeout has value" in capsys.readouterr().err


def test_script_status_changes_are_shown_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "stepper.py").write_text(textwrap.dedent('''
        import time
        __script_id__ = "stepper"
        __script_title__ = "Stepper"

        class Stepper:
            def __init__(self, g, logger, settings):
                self.script_status = None

            def run(self):
                for step in ("heating", "homing"):
                    self.script_status = step
                    time.sleep(0.3)
                return True, {}

        __script_obj__ = Stepper
    '''))
    assert main(["--plugin-path", str(plugins), "run", "stepper", "--machine", "record://"]) == 0
    err = capsys.readouterr().err
    assert "status: heating" in err and "status: homing" in err, err
