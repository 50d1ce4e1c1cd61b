"""The log a run keeps is capped (first LOG_HEAD, a marker, last LOG_TAIL); every record is still an event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scriptdeck.host import Host
from scriptdeck.runtime import supervise
from scriptdeck.runtime.supervise import KeptLog

pytestmark = pytest.mark.timeout(120)

LINES = 30_000


def _record(i: int) -> dict[str, Any]:
    return {"level": "INFO", "levelno": 20, "time": f"t{i}", "message": f"line {i}", "exc_text": None,
            "logger": "stdout"}


def test_a_log_that_fits_is_kept_whole_in_the_list_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervise, "LOG_HEAD", 2)
    monkeypatch.setattr(supervise, "LOG_TAIL", 3)
    log: list[dict[str, Any]] = []
    kept = KeptLog(log)
    for i in range(5):
        kept.add(_record(i))
    assert kept.records() == log == [_record(i) for i in range(5)]
    assert kept.left_out == 0


def test_a_log_over_the_cap_keeps_head_marker_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervise, "LOG_HEAD", 2)
    monkeypatch.setattr(supervise, "LOG_TAIL", 3)
    kept = KeptLog([])
    for i in range(10):
        kept.add(_record(i))
    records = kept.records()
    assert [r["message"] for r in records] == [
        "line 0", "line 1",
        "… 5 log records left out (a run keeps the first 2 and the last 3)",
        "line 7", "line 8", "line 9"]
    assert records[2]["time"] == "t2"  # when the gap begins
    assert records[2]["level"] == "WARNING"


def test_a_run_printing_a_lot_keeps_a_capped_log_and_publishes_every_line(
    host: Host, plugins: Path, kit: Any, recorder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervise, "LOG_HEAD", 10)
    monkeypatch.setattr(supervise, "LOG_TAIL", 90)
    kit.plugin_folder(plugins, "Big", [kit.action_service(label="Big")], {"main.py": f"""
        def main(window, document, settings):
            for i in range({LINES}):
                print("spam line number", i)
    """})
    host.reload()
    result = host.run("Big")
    assert result.outcome == "finished", result.error

    spam = [f"spam line number {i}" for i in range(LINES)]
    published = [p["message"] for _, p in recorder.for_run(result.run_id, "RunLog")]
    assert [m for m in published if m.startswith("spam")] == spam

    messages = [r["message"] for r in result.log]
    left_out = LINES - 100 + sum(not m.startswith("spam") for m in published)  # + the host's own records
    marker = f"… {left_out:,} log records left out (a run keeps the first 10 and the last 90)"
    assert messages[:10] == spam[:10]
    assert messages[10] == marker
    assert messages[11:] == spam[-90:]
    assert [r["message"] for r in host.history.get(result.run_id)["log"]] == messages
