"""Host: the Python API the CLI and the dashboard use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.document.gcode import GcodeDocument
from scriptdeck.errors import UserError
from scriptdeck.host import Host
from scriptdeck.runtime.ui import FutureWindow

pytestmark = pytest.mark.timeout(60)


def test_reload_fires_plugins_changed(host: Host, plugins: Path, kit: Any, recorder: Any) -> None:
    kit.automation(plugins, "newone", "return True, {}")
    host.reload()
    assert [(e["event"], e["payload"]) for e in recorder.envelopes] == [
        ("PluginsChanged", {"plugins": ["newone"], "services": ["newone"]})]


def test_questions_answered_asynchronously(host: Host, plugins: Path, kit: Any, recorder: Any) -> None:
    kit.plugin_folder(plugins, "Ask", [kit.action_service()], {"main.py": """
        def main(window, document, settings):
            window.information(str(window.choose_option("Tool?", ["T0", "T1"], 0)))
    """})
    host.reload()
    window = FutureWindow()
    run_id = host.start("Ask", window=window)
    kit.wait_event(host, recorder, run_id, "RunPrompt")
    prompt = dict(recorder.for_run(run_id, "RunPrompt"))["RunPrompt"]
    assert prompt == {"id": "Ask/act", "request_id": prompt["request_id"], "kind": "choose_option", "title": "",
                      "message": "Tool?", "options": ["T0", "T1"], "default": 0}
    assert [p.request_id for p in window.pending()] == [prompt["request_id"]]
    assert host.answer(run_id, prompt["request_id"], 1)
    result = host.wait(run_id)
    assert [m["message"] for m in result.messages] == ["1"]
    assert not host.answer(run_id, prompt["request_id"], 0)  # the run is over


def test_document_is_updated_in_place_as_one_undo_step(host: Host, plugins: Path, kit: Any) -> None:
    kit.plugin_folder(plugins, "Edit", [kit.action_service(label="Add pause")], {"main.py": """
        def main(window, document, settings):
            document.insert(1, "M0")
            document.append("M84")
    """})
    host.reload()
    document = GcodeDocument.from_text("G28\nG1 Z1\n")
    result = host.run("Edit", document=document)
    assert result.ok
    assert document.text == "G28\nM0\nG1 Z1\nM84\n"
    assert document.undo() == "Add pause"
    assert document.text == "G28\nG1 Z1\n"


def test_close_cancels_running_runs(make_host: Any, plugins: Path, kit: Any) -> None:
    kit.automation(plugins, "forever", "while True:\n    pass")
    host = make_host()
    run_id = host.start("forever")
    host.close()
    again = make_host()
    assert again.history.get(run_id)["outcome"] == "cancelled"


def test_interrupted_runs_are_marked_at_the_next_start(make_host: Any) -> None:
    host = make_host()
    host.history.begin({"id": "ghost", "service_id": "x", "kind": "automation", "started_at": "2024-01-01"})
    host.history._conn.execute("UPDATE runs SET host_pid=999999999 WHERE id='ghost'")
    host.close()
    assert make_host().history.get("ghost")["outcome"] == "interrupted"


def test_g_drives_the_virtual_machine_through_the_lease(host: Host, plugins: Path, kit: Any) -> None:
    kit.automation(plugins, "mover", """
        self.g.abs_move(x=12, y=3)
        reply = self.g.write("M105", resp_needed=True)
        return True, {"pos": self.g._p.current_position(), "temp": "T:" in reply}
    """)
    host.reload()
    result = host.run("mover")
    assert result.outcome == "finished", result.error
    assert result.result["pos"]["X"] == 12.0 and result.result["pos"]["Y"] == 3.0
    assert result.result["temp"] is True
    assert host.machine().owner is None  # the lease was released


def test_cancel_while_the_machine_finishes_a_scripts_moves(make_host: Any, plugins: Path, kit: Any) -> None:
    # The script returned; the host waits for its moves (M400) when the user cancels: the run is
    # cancelled (whether the quick-stop lets the M400 through or the cancel wakes its wait), not
    # finished and not an error with a traceback, and the abort sequence reaches the firmware.
    kit.automation(plugins, "slow", """
        for i in range(40):
            self.g.write(f"G1 X{i}")
        return True, {}
    """)
    host = make_host(machine_url="virtual://?buffer=16&move_ms=150")  # M400 waits ~2 s
    seen: list[str] = []
    host.machine().add_line_listener(lambda direction, text: seen.append(text) if direction == "out" else None)
    run_id = host.start("slow")
    deadline = time.monotonic() + 20
    while not any("M400" in line for line in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert host.cancel(run_id)
    result = host.wait(run_id)
    assert result.outcome == "cancelled"
    assert not [r for r in result.log if r["level"] == "ERROR"], result.log
    host.close()
    assert "M410" in seen


def test_a_machine_owned_by_someone_else_refuses_the_script(host: Host, plugins: Path, kit: Any,
                                                            recorder: Any) -> None:
    kit.automation(plugins, "blocked", "return True, {}", title="Blocked")
    host.reload()
    with host.machine().lease("print job benchy"):
        result = host.run("blocked")
    assert result.outcome == "error"
    assert recorder.for_run(result.run_id, "AutomationScriptError")[0][1]["error"].startswith(
        "MachineBusyError: machine is busy: 'print job benchy' owns it")
    assert host.run("blocked").outcome == "finished"


def test_abort_lines_reach_the_machine(make_host: Any) -> None:
    host = make_host(abort_lines=["M104 S0", "M140 S0"])  # serve/run --abort-line
    machine = host.machine()
    assert machine.abort_sequence == ["M108", "M410"] and machine.abort_lines == ["M104 S0", "M140 S0"]


@pytest.mark.parametrize("timeout", ["abc", -1, -0.5, float("nan"), True, [5]])
def test_a_bad_timeout_is_refused_naming_it(host: Host, plugins: Path, kit: Any, timeout: Any) -> None:
    kit.plugin_folder(plugins, "Quick", [kit.action_service()], {"main.py": """
        def main(window, document, settings):
            pass
    """})
    host.reload()
    with pytest.raises(UserError, match=r"^timeout has value .*; expected a number of seconds ≥ 0 \(0 = no limit\)$"):
        host.run("Quick", timeout=timeout)
    with pytest.raises(UserError, match=r"^timeout has value"):
        host.start("Quick", timeout=timeout)
    assert host.run("Quick", timeout=0).ok  # 0 = no limit
    assert host.run("Quick", timeout=2).ok
    assert host.history.list(10) and all(r["outcome"] == "finished" for r in host.history.list(10))


@pytest.mark.parametrize(("document", "message"), [
    (b"\xff\xfe", r"^document: bytes 0-1 are ff fe, a UTF-16 byte order mark"),
    (b"G28\n\x00\x01", r"^document: byte offset 4 \(line 2\) is 0x00, a control byte"),
    (42, r"^document has type int; expected a GcodeDocument, G-code text \(str\), its bytes, or None$"),
    (["G28"], r"^document has type list; expected a GcodeDocument"),
])
def test_a_document_that_is_not_gcode_is_refused_naming_it(host: Host, plugins: Path, kit: Any, document: Any,
                                                           message: str) -> None:
    kit.plugin_folder(plugins, "Look", [kit.action_service()], {"main.py": """
        def main(window, document, settings):
            window.information(document.text)
    """})
    host.reload()
    with pytest.raises(UserError, match=message):
        host.run("Look", document=document)
    assert host.history.list(10) == []  # nothing ran
    for ok in (b"\xef\xbb\xbfG28\n", bytearray(b"G28\n"), "G28\n", GcodeDocument.from_text("G28\n")):
        result = host.run("Look", document=ok)
        assert [m["message"] for m in result.messages] == ["G28\n"]
