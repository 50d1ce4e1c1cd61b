"""Run history: rows survive restarts; runs of a dead host are marked interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scriptdeck.errors import UserError
from scriptdeck.host import Host
from scriptdeck.runtime.history import History


def _row(run_id: str) -> dict[str, Any]:
    return {"id": run_id, "service_id": "s", "kind": "action", "started_at": "2024-01-01T00:00:00+00:00",
            "settings": {"a": 1}}


def test_begin_finish_list_get(tmp_path: Path) -> None:
    history = History(tmp_path / "db.sqlite3")
    history.begin(_row("abc123"))
    history.finish("abc123", outcome="finished", ended_at="2024-01-01T00:00:01+00:00", result={"x": 1},
                   log=[{"message": "hi"}], status_history=[], messages=[])
    history.close()
    reopened = History(tmp_path / "db.sqlite3")
    assert [r["id"] for r in reopened.list()] == ["abc123"]
    row = reopened.get("abc")
    assert row["outcome"] == "finished" and row["settings"] == {"a": 1} and row["result"] == {"x": 1}
    assert row["log"] == [{"message": "hi"}]
    with pytest.raises(UserError, match="no run"):
        reopened.get("zzz")
    with pytest.raises(ValueError, match="unknown outcome"):
        reopened.finish("abc123", outcome="exploded")
    reopened.close()


def test_runs_of_a_dead_host_become_interrupted(tmp_path: Path) -> None:
    history = History(tmp_path / "db.sqlite3")
    history.begin(_row("dead"))
    history.begin(_row("alive"))
    # "dead" was started by a process that no longer exists; "alive" by this one.
    history._conn.execute("UPDATE runs SET host_pid=999999999 WHERE id='dead'")
    assert history.mark_interrupted() == 1
    assert history.get("dead")["outcome"] == "interrupted"
    assert history.get("alive")["outcome"] == "running"
    history.close()


@pytest.mark.timeout(60)
def test_host_records_every_run(host: Host, plugins: Path, kit: Any) -> None:
    kit.automation(plugins, "rec", """
        self.script_status = "one"
        self.g.write("G28")
        return True, {"k": 2}
    """, title="Rec", settings="{'k': 1}")
    host.reload()
    result = host.run("rec", settings={"k": "3"})
    row = host.history.get(result.run_id)
    assert row["service_id"] == "rec" and row["kind"] == "automation" and row["outcome"] == "finished"
    assert row["settings"] == {"k": 3}
    assert row["result"] == {"k": 2}
    assert [s["status"] for s in row["status_history"]] == ["one"]
    assert row["gcode"] == "G28\nM400"
    assert row["started_at"] <= row["ended_at"]
    assert row["machine"] == "virtual://"


KILLED_HOST = """
import sys
from scriptdeck.host import Host
host = Host(sys.argv[1], [sys.argv[2]], include_examples=False, machine_url="record://")
host.start("chatty")
import time
time.sleep(600)
"""


@pytest.mark.timeout(90)
def test_a_killed_host_leaves_the_log_so_far_in_the_interrupted_row(tmp_path: Path, plugins: Path, kit: Any) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    kit.automation(plugins, "chatty", """
        self.logger.info("heating started")
        self.script_status = "heating"
        while True:
            time.sleep(0.05)
    """, title="Chatty")
    data = tmp_path / "data"
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_HOST, str(data), str(plugins)], env=env,
                            start_new_session=True)
    try:
        history = History(data / "scriptdeck.sqlite3")
        deadline = time.monotonic() + 60
        while True:  # wait (bounded) until the running row holds the log and the status: checkpointed
            rows = history.list()
            saved = history.get(rows[0]["id"]) if rows else None
            if saved and saved["log"] and saved["status_history"]:
                break
            assert time.monotonic() < deadline, "the running run's log never reached the database"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert history.mark_interrupted() == 1
    row = history.get(rows[0]["id"])
    assert row["outcome"] == "interrupted"
    assert [r["message"] for r in row["log"]] == ["heating started"]
    assert [s["status"] for s in row["status_history"]] == ["heating"]
    history.close()
