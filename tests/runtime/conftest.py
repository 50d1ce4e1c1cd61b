"""Fixtures for runtime tests: plugins written into tmp_path, a Host over them, an event recorder."""

from __future__ import annotations

import json
import multiprocessing
import textwrap
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.host import Host
from scriptdeck.runtime.events import Envelope


def write_script(root: Path, name: str, source: str) -> Path:
    """A seed-000 automation script file."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def automation(root: Path, script_id: str, run_body: str, *, title: str | None = None,
               settings: str = "{}", init: str = "") -> Path:
    """A script whose `run()` body is `run_body` (indented for you); `self.g`, `self.logger` available."""
    body = textwrap.indent(textwrap.dedent(run_body).strip("\n"), " " * 8)
    extra = textwrap.indent(textwrap.dedent(init).strip("\n"), " " * 8) if init else ""
    source = (
        f"import os, time\n\n"
        f"__script_id__ = {script_id!r}\n"
        f"__script_title__ = {title or script_id.title()!r}\n"
        f"__script_settings__ = {settings}\n\n\n"
        f"class Script:\n"
        f"    def __init__(self, g, logger, settings):\n"
        f"        self.g = g\n        self.logger = logger\n        self.settings = settings\n"
        f"        self.script_status = None\n{extra}\n\n"
        f"    def run(self):\n{body}\n\n\n"
        f"__script_obj__ = Script\n"
    )
    return write_script(root, script_id, source)


def plugin_folder(root: Path, plugin_id: str, services: list[dict[str, Any]], files: dict[str, str],
                  version: int = 1) -> Path:
    """A seed-004 plugin folder with `plugin.json` and the given module files."""
    folder = root / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"name": plugin_id, "engine": "python", "version": version, "services": services}
    (folder / "plugin.json").write_text(json.dumps(manifest))
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return folder


def action_service(module: str = "main", function: str = "main", settings: list[dict[str, Any]] | None = None,
                   label: str = "Act") -> dict[str, Any]:
    return {"type": "action", "label": label,
            "script": {"module": module, "function": function, "settings": settings or []}}


class Recorder:
    """Every envelope the bus published, in order."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    def __call__(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def for_run(self, run_id: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        return [(e["event"], e["payload"]) for e in self.envelopes
                if e["run_id"] == run_id and e["event"].startswith(prefix)]

    def names(self, run_id: str, prefix: str = "") -> list[str]:
        return [name for name, _ in self.for_run(run_id, prefix)]


def wait_event(host: Host, recorder: Recorder, run_id: str, name: str, timeout: float = 30) -> None:
    """Block until `recorder` saw event `name` for `run_id`."""
    seen = threading.Event()

    def check(_envelope: object) -> None:
        if name in recorder.names(run_id):
            seen.set()

    unsubscribe = host.events.subscribe(check)
    try:
        check(None)
        assert seen.wait(timeout), f"no {name} event within {timeout} s"
    finally:
        unsubscribe()


@pytest.fixture
def kit() -> Any:
    """The helpers above, for test modules (importlib import mode has no `from .conftest import`)."""
    return types.SimpleNamespace(write_script=write_script, automation=automation, plugin_folder=plugin_folder,
                                 action_service=action_service, wait_event=wait_event)


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    root = tmp_path / "plugins"
    root.mkdir()
    return root


@pytest.fixture
def make_host(tmp_path: Path, plugins: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`make_host()` → a Host over `plugins` (no examples, no ~/.mecodescripts); closed after the test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCRIPTDECK_PLUGIN_PATH", raising=False)
    hosts: list[Host] = []

    def make(**options: Any) -> Host:
        options.setdefault("include_examples", False)
        host = Host(tmp_path / "data", [plugins], **options)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
    leaked = [p for p in multiprocessing.active_children() if p.name == "scriptdeck-worker"]
    assert not leaked, f"worker processes left behind: {leaked}"


@pytest.fixture
def host(make_host: Any) -> Host:
    return make_host()  # type: ignore[no-any-return]


@pytest.fixture
def recorder(host: Host) -> Recorder:
    rec = Recorder()
    host.events.subscribe(rec)
    return rec
