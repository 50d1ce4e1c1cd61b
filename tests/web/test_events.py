"""Server-sent events at /api/events over a real server: envelopes, auth, and plugin-change events."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from scriptdeck.web.testing import DashboardServer

pytestmark = pytest.mark.timeout(60)
FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


def test_sse_stream_delivers_envelopes(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(FIXTURES, plugins)
    with DashboardServer(tmp_path / "data", [plugins], include_examples=False, watch_interval=0, connect=False) as s:
        assert httpx.get(s.url + "/api/events", timeout=5).status_code == 401
        received: list[dict[str, Any]] = []
        connected = threading.Event()

        def listen() -> None:
            with httpx.Client(timeout=20) as client, client.stream(
                    "GET", s.url + "/api/events", headers=s.auth_headers) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        connected.set()
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:]))
                        if received[-1]["event"] == "PluginsChanged":
                            return

        thread = threading.Thread(target=listen)
        thread.start()
        assert connected.wait(10)
        httpx.post(s.url + "/api/plugins/reload", headers=s.auth_headers, timeout=10).raise_for_status()
        thread.join(20)
        env = received[-1]
        assert env["event"] == "PluginsChanged"
        assert set(env) == {"event", "payload", "run_id", "time"}
        assert "Chooser" in env["payload"]["plugins"]


def test_shadowed_copy_is_listed_with_the_winner(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(FIXTURES / "Chooser", first / "Chooser")
    shutil.copytree(FIXTURES / "Chooser", second / "Chooser")
    manifest = second / "Chooser" / "plugin.json"
    manifest.write_text(manifest.read_text().replace('"version": 1', '"version": 3'))
    with DashboardServer(tmp_path / "data", [first, second], include_examples=False, watch_interval=0,
                         connect=False) as s:
        plugins = httpx.get(s.url + "/api/plugins", headers=s.auth_headers, timeout=10).json()["plugins"]
    copies = [p for p in plugins if p["id"] == "Chooser"]
    assert sorted(p["status"] for p in copies) == ["ok", "shadowed"]
    loser = next(p for p in copies if p["status"] == "shadowed")
    assert loser["shadowed_by"] == str(second / "Chooser")
