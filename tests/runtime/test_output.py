"""Output: what a worker writes to fds 1 and 2 (os.write, subprocesses, C stdio, crashes) is in the run's log."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.host import Host
from scriptdeck.runtime.output import MAX_LINE, PENDING_LINES, WorkerOutput
from scriptdeck.runtime.ui import Prompt, RecordingWindow

pytestmark = pytest.mark.timeout(60)

WRITES = """
import os, subprocess, sys
os.write(1, b"fd one\\n")
os.write(2, b"fd two\\n")
subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"],
               check=True)
"""


def _records(log: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["logger"], r["level"], r["message"]) for r in log if r["logger"] in ("stdout", "stderr")]


def _action(plugins: Path, kit: Any, body: str, imports: str = "import os") -> None:
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    kit.plugin_folder(plugins, "Out", [kit.action_service(label="Out")],
                      {"main.py": f"{imports}\n\ndef main(window, document, settings):\n{indented}\n"})


def test_fd_output_of_an_action_and_its_subprocess_is_in_the_run_log(host: Host, plugins: Path, kit: Any) -> None:
    _action(plugins, kit, WRITES)
    host.reload()
    result = host.run("Out")
    assert result.outcome == "finished", result.error
    expected = {("stdout", "INFO", "fd one"), ("stderr", "WARNING", "fd two"),
                ("stdout", "INFO", "child out"), ("stderr", "WARNING", "child err")}
    assert set(_records(result.log)) == expected
    assert set(_records(host.history.get(result.run_id)["log"])) == expected
    stdout = [m for _, _, m in _records(result.log) if m in ("fd one", "child out")]
    assert stdout == ["fd one", "child out"]  # one stream keeps its order


def test_fd_output_of_an_automation_script_is_in_the_run_log_and_events(
    host: Host, plugins: Path, kit: Any, recorder: Any
) -> None:
    kit.automation(plugins, "talky", WRITES + "return True, {}\n")
    host.reload()
    result = host.run("talky")
    assert result.outcome == "finished", result.error
    assert set(_records(host.history.get(result.run_id)["log"])) == {
        ("stdout", "INFO", "fd one"), ("stderr", "WARNING", "fd two"),
        ("stdout", "INFO", "child out"), ("stderr", "WARNING", "child err")}
    logged = [(p["level"], p["message"]) for name, p in recorder.for_run(result.run_id) if name == "RunLog"]
    assert ("INFO", "fd one") in logged and ("WARNING", "child err") in logged
    assert recorder.names(result.run_id)[-1] == "AutomationScriptFinished"  # no output event after the end


def test_c_stdio_is_line_buffered_and_flushed(host: Host, plugins: Path, kit: Any) -> None:
    _action(plugins, kit, """
        libc = ctypes.CDLL(None)
        libc.printf(b"printf line\\n")
        os.write(1, b"after printf\\n")
        libc.printf(b"unfinished")
    """, imports="import ctypes, os")
    host.reload()
    result = host.run("Out")
    assert _records(result.log) == [("stdout", "INFO", "printf line"), ("stdout", "INFO", "after printf"),
                                    ("stdout", "INFO", "unfinished")]


def test_a_line_written_before_a_log_record_comes_before_it(host: Host, plugins: Path, kit: Any) -> None:
    _action(plugins, kit, """
        for i in range(20):
            os.write(1, b"raw %d\\n" % i)
            print(f"print {i}")
    """)
    host.reload()
    messages = [r["message"] for r in host.run("Out").log]
    for i in range(20):
        assert messages.index(f"raw {i}") < messages.index(f"print {i}")


def test_the_last_lines_of_a_worker_that_exits_abruptly_are_kept(host: Host, plugins: Path, kit: Any) -> None:
    kit.automation(plugins, "abrupt", """
        os.write(1, b"last words\\n")
        os.write(2, b"no newline")
        os._exit(3)
    """)
    host.reload()
    result = host.run("abrupt")
    assert result.error == "the worker process died with exit status 3"
    assert _records(result.log) == [("stdout", "INFO", "last words"), ("stderr", "WARNING", "no newline")]
    assert _records(host.history.get(result.run_id)["log"]) == _records(result.log)


def test_a_segfault_leaves_faulthandlers_report_at_the_end_of_the_log(host: Host, plugins: Path, kit: Any) -> None:
    kit.automation(plugins, "segv", """
        os.write(1, b"about to crash\\n")
        print("printed")
        self.logger.info("logged")
        import ctypes
        ctypes.string_at(0)
    """)
    host.reload()
    result = host.run("segv")
    assert result.error is not None and "SIGSEGV" in result.error
    messages = [r["message"] for r in result.log]
    assert messages[:3] == ["about to crash", "printed", "logged"]
    report = result.log[3:]
    assert report[0]["message"] == "Fatal Python error: Segmentation fault"
    assert {(r["logger"], r["level"]) for r in report} == {("stderr", "WARNING")}
    assert any("segv.py" in r["message"] and "in run" in r["message"] for r in report), report
    assert "Fatal Python error: Segmentation fault" in [r["message"] for r in host.history.get(result.run_id)["log"]]


def test_a_process_left_running_holds_up_neither_the_run_nor_the_host(host: Host, plugins: Path, kit: Any) -> None:
    # `sleep` inherits fds 1 and 2 and outlives the worker: the pipes never reach their end.
    _action(plugins, kit, """
        subprocess.Popen(["sh", "-c", "echo started $$; exec sleep 30"])
        time.sleep(0.2)
    """, imports="import subprocess, time")
    host.reload()
    start = time.monotonic()
    result = host.run("Out")
    assert result.outcome == "finished" and time.monotonic() - start < 5
    [(logger, _level, message)] = _records(result.log)
    os.kill(int(message.removeprefix("started ")), signal.SIGTERM)
    assert logger == "stdout"


class _WaitingWindow(RecordingWindow):
    """Holds the run's host thread in a question until `marker` exists (or 10 s pass)."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = marker

    def question(self, prompt: Prompt) -> bool:
        deadline = time.monotonic() + 10
        while not self.marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.marker.exists()


def test_a_busy_host_thread_never_blocks_a_plugin_writing_a_lot(host: Host, plugins: Path, kit: Any,
                                                                tmp_path: Path) -> None:
    # 1 MiB is far more than a pipe holds: without a reader of its own the writer would block
    # while the run's thread waits in the question, and the marker would never appear.
    marker = tmp_path / "written"
    _action(plugins, kit, f"""
        def write():
            for _ in range(1024):
                os.write(1, b"x" * 1023 + b"\\n")
            open({str(marker)!r}, "w").close()
        threading.Thread(target=write).start()
        window.information(str(window.question("written?")))
    """, imports="import os, threading")
    host.reload()
    result = host.run("Out", window=_WaitingWindow(marker))
    assert [m["message"] for m in result.messages] == ["True"]
    assert sum(1 for r in result.log if r["logger"] == "stdout") == 1024


# -- WorkerOutput on its own (no worker process) -----------------------------------------------------


@pytest.fixture
def capture() -> Any:
    """A WorkerOutput whose "worker" is this test: (output, write_stdout, write_stderr, end, write_crash)."""
    out = WorkerOutput()
    fds = [end.fd for end in out.child_ends()]
    writers = [os.dup(fd) for fd in fds]
    sentinel_r, sentinel_w = os.pipe()
    out.started(sentinel_r)

    def end() -> None:
        os.write(sentinel_w, b"x")  # the sentinel says the worker is gone

    yield (out, (lambda b: os.write(writers[0], b)), (lambda b: os.write(writers[1], b)), end,
           (lambda b: os.write(writers[2], b)))
    end()
    for fd in writers:
        os.close(fd)
    out.close()
    os.close(sentinel_r)
    os.close(sentinel_w)


def test_lines_before_attach_are_kept_for_the_run(capture: Any) -> None:
    out, write_out, write_err, _end, _crash = capture
    write_out(b"early\r\n")
    write_err(b"err\n")
    time.sleep(0.1)
    lines: list[tuple[str, str]] = []
    out.attach(lambda stream, line: lines.append((stream, line)))
    write_out(b"later\n" + b"y" * (MAX_LINE + 5))
    out.detach()
    write_out(b"after the run\n")
    out.sync()
    assert sorted(lines[:2]) == [("stderr", "err"), ("stdout", "early")]  # two pipes: no order between them
    assert lines[2:] == [("stdout", "later"), ("stdout", "y" * MAX_LINE), ("stdout", "yyyyy")]


def test_pending_lines_are_bounded(capture: Any) -> None:
    out, write_out, _write_err, _end, _crash = capture
    write_out(b"line\n" * (PENDING_LINES + 50))
    out.sync()
    lines: list[str] = []
    out.attach(lambda _stream, line: lines.append(line))
    assert len(lines) == PENDING_LINES


def test_a_failing_sink_does_not_stop_the_draining(capture: Any, caplog: pytest.LogCaptureFixture) -> None:
    out, write_out, _write_err, end, _crash = capture
    seen: list[str] = []

    def sink(_stream: str, line: str) -> None:
        seen.append(line)
        if line == "bad":
            raise RuntimeError("sink broke")

    out.attach(sink)
    write_out(b"bad\n")
    time.sleep(0.05)
    write_out(b"good\n")
    end()
    out.close()
    assert seen[0] == "bad" and seen[-1] == "good"
    assert "sink broke" in caplog.text


def test_the_crash_report_waits_for_detach(capture: Any) -> None:
    out, write_out, _write_err, _end, write_crash = capture
    lines: list[tuple[str, str]] = []
    out.attach(lambda stream, line: lines.append((stream, line)))
    write_crash(b"Fatal Python error: Segmentation fault\n\nCurrent thread")
    write_out(b"earlier\n")
    out.sync()
    assert lines == [("stdout", "earlier")]
    out.detach()
    assert lines[1:] == [("stderr", "Fatal Python error: Segmentation fault"), ("stderr", ""),
                         ("stderr", "Current thread")]
