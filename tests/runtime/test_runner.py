"""Runner: the seed's automation event sequences, results, persistence, settings validation, faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scriptdeck.errors import AlreadyRunningError, SettingsError
from scriptdeck.host import Host

pytestmark = pytest.mark.timeout(60)


def test_success_sequence_coerces_and_persists_values(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "calib", """
        self.script_status = "moving"
        self.g.move(x=10)
        self.logger.info("moved to %s", 10)
        self.script_status = "done"
        return True, {"offset": "0.25", "note": "kept"}
    """, title="Calibrate", settings="{'offset': 0.0, 'passes': 2}")
    host.reload()
    result = host.run("calib")
    assert result.outcome == "finished"
    assert recorder.for_run(result.run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "calib", "title": "Calibrate"}),
        ("AutomationScriptStatusChanged", {"id": "calib", "title": "Calibrate", "status": "moving"}),
        ("AutomationScriptStatusChanged", {"id": "calib", "title": "Calibrate", "status": "done"}),
        ("AutomationScriptFinished", {"id": "calib", "title": "Calibrate", "result": {"offset": 0.25, "note": "kept"}}),
    ]
    # Typed values persisted; the undeclared key too, with a warning in the run log.
    assert host.store.values("calib") == {"offset": 0.25, "note": "kept"}
    assert any("note: not a declared setting" in r["message"] for r in result.log)
    assert any(r["message"] == "moved to 10" and r["level"] == "INFO" for r in result.log)
    # The G-code went to the recorder; wait_for_buffer (default) ended with M400.
    assert result.gcode[-1] == "M400"
    assert any(line.startswith("G1 X10") for line in result.gcode)
    assert [s["status"] for s in result.status_history] == ["moving", "done"]
    # The next run receives the persisted values.
    kit.automation(plugins, "calib", "return True, {'seen': self.settings['offset']}", title="Calibrate",
               settings="{'offset': 0.0, 'passes': 2}")
    assert host.run("calib").result == {"seen": 0.25}


def test_run_returning_false_fires_failed(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "nope", "return (False, {})", title="Nope")
    host.reload()
    result = host.run("nope")
    assert result.outcome == "failed"
    assert result.exit_status == 1
    assert recorder.for_run(result.run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "nope", "title": "Nope"}),
        ("AutomationScriptFailed", {"id": "nope", "title": "Nope", "failure_reason": None}),
    ]
    assert host.store.values("nope") == {}
    assert "M400" not in result.gcode


def test_dict_form_failure_and_success(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "dicty", "return {'success': False, 'failure_reason': 'no filament'}", title="Dicty")
    host.reload()
    failed = host.run("dicty")
    assert recorder.for_run(failed.run_id, "AutomationScript")[-1] == (
        "AutomationScriptFailed", {"id": "dicty", "title": "Dicty", "failure_reason": "no filament"})
    kit.automation(plugins, "dicty", """
        self.g.write("G28")
        return {"success": True, "storage": {"z": 1.5}, "success_message": "all good", "wait_for_buffer": False}
    """, title="Dicty", settings="{'z': 0.0}")
    ok = host.run("dicty")
    assert ok.outcome == "finished", ok.error
    assert recorder.for_run(ok.run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "dicty", "title": "Dicty"}),
        ("AutomationScriptFinished", {"id": "dicty", "title": "Dicty", "result": {"z": 1.5}}),
    ]
    assert ok.gcode == ["G28"]  # wait_for_buffer false: no M400
    assert any(r["message"] == "all good" for r in ok.log)
    assert host.store.values("dicty") == {"z": 1.5}


def test_exception_fires_error_with_traceback_in_log(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "boom", "raise ValueError('bad nozzle')", title="Boom")
    host.reload()
    result = host.run("boom")
    assert result.outcome == "error"
    assert recorder.for_run(result.run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "boom", "title": "Boom"}),
        ("AutomationScriptError", {"id": "boom", "title": "Boom", "error": "ValueError: bad nozzle"}),
    ]
    assert any("Traceback" in (r["exc_text"] or "") and "bad nozzle" in r["exc_text"] for r in result.log)


def test_cancel_busy_loop_ends_cancelled(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "spin", """
        os.write(1, b"spinning\\n")
        self.script_status = "spinning"
        while True:
            pass
    """, title="Spin")
    host.reload()
    run_id = host.start("spin")
    kit.wait_event(host, recorder, run_id, "AutomationScriptStatusChanged")
    assert host.cancel(run_id)
    result = host.wait(run_id, timeout=10)
    assert result.outcome == "cancelled"
    assert recorder.for_run(run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "spin", "title": "Spin"}),
        ("AutomationScriptStatusChanged", {"id": "spin", "title": "Spin", "status": "spinning"}),
        ("AutomationScriptCancelled", {"id": "spin", "title": "Spin"}),
    ]
    assert host.history.get(run_id)["outcome"] == "cancelled"
    assert [(r["logger"], r["message"]) for r in result.log] == [("stdout", "spinning")]  # written before the cancel


def test_worker_crash_is_an_error_and_the_host_goes_on(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "crash", "os._exit(3)", title="Crash")
    kit.automation(plugins, "fine", "return True, {}", title="Fine")
    host.reload()
    result = host.run("crash")
    assert recorder.for_run(result.run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "crash", "title": "Crash"}),
        ("AutomationScriptError", {"id": "crash", "title": "Crash",
                                   "error": "the worker process died with exit status 3"}),
    ]
    assert result.error_type == "WorkerDiedError"
    assert host.run("fine").outcome == "finished"


def test_segfault_is_an_error_naming_the_signal(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "segv", "import ctypes\nctypes.string_at(0)", title="Segfault")
    host.reload()
    result = host.run("segv")
    assert result.outcome == "error" and result.error_type == "WorkerDiedError"
    assert result.error is not None and "SIGSEGV" in result.error
    assert host.run("segv").outcome == "error"  # and the host keeps going


def test_timeout_is_an_error(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "hang", "while True:\n    pass", title="Hang")
    host.reload()
    result = host.run("hang", timeout=0.5)
    assert recorder.for_run(result.run_id, "AutomationScript") == [
        ("AutomationScriptStarted", {"id": "hang", "title": "Hang"}),
        ("AutomationScriptError", {"id": "hang", "title": "Hang", "error": "timed out after 0.5 s"}),
    ]


def test_second_automation_is_refused_naming_the_first(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "first", "while True:\n    time.sleep(0.01)", title="First one")
    kit.automation(plugins, "second", "return True, {}", title="Second one")
    host.reload()
    run_id = host.start("first")
    with pytest.raises(AlreadyRunningError, match="'First one'"):
        host.start("second")
    host.cancel(run_id)
    host.wait(run_id)
    assert not any(p["id"] == "second" for _, p in recorder.for_run(run_id))
    assert [e["event"] for e in recorder.envelopes if e["payload"].get("id") == "second"] == []
    again = host.run("second")
    assert again.outcome == "finished", again.error  # the machine is free again


def test_bad_setting_is_refused_before_anything_runs(host: Host, plugins: Path, recorder: Any, kit: Any) -> None:
    kit.automation(plugins, "typed", "return True, {}", settings="{'passes': 2}")
    host.reload()
    with pytest.raises(SettingsError, match="passes: expected an integer"):
        host.run("typed", settings={"passes": "many"})
    assert recorder.envelopes == [e for e in recorder.envelopes if e["event"] == "PluginsChanged"]
    assert host.history.list() == []


def test_action_last_used_values_and_defaults(host: Host, plugins: Path, kit: Any) -> None:
    settings = [{"name": "word", "type": "string", "default": "hi"}]
    kit.plugin_folder(plugins, "Echo", [kit.action_service(settings=settings)],
                  {"main.py": "def main(window, document, settings):\n    window.information(settings['word'])\n"})
    host.reload()
    assert host.run("Echo", settings={"word": "custom"}).messages[0]["message"] == "custom"
    assert host.run("Echo").messages[0]["message"] == "custom"  # last used
    assert host.run("Echo", use_last_used=False).messages[0]["message"] == "hi"
