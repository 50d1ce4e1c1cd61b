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
