"""`__script_commands__(settings)` is sent on connect, and again after the script's settings are saved."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.errors import SettingsError
from scriptdeck.runtime import events as ev
from scriptdeck.runtime.commands import normalise

HEATER = """
__script_id__ = "preheat"
__script_title__ = "Preheat"
__script_settings__ = {"nozzle": 180, "label": "PLA"}


def on_connect(settings):
    # computed from the settings: only a worker can know the lines
    return ["M104 S%d" % settings["nozzle"], "M117 " + settings["label"]]


__script_commands__ = on_connect


class Script:
    def __init__(self, g, logger, settings):
        pass

    def run(self):
        return True, {}


__script_obj__ = Script
"""


def nozzle_target(host: Any) -> str:
    reply = host.machine().send("M105")[0]
    return reply.split("/")[1].split()[0]


@pytest.mark.timeout(60)
def test_commands_are_sent_on_connect_and_after_settings_are_saved(make_host: Any, plugins: Path, kit: Any) -> None:
    kit.write_script(plugins, "preheat", HEATER)
    host = make_host()
    assert nozzle_target(host) == "180.00"
    sent = threading.Event()
    host.machine().add_line_listener(lambda direction, text: sent.set() if "M104 S205" in text else None)
    saved: list[dict[str, Any]] = []
    host.events.subscribe(lambda e: saved.append(e["payload"]), [ev.SETTINGS_SAVED])
    assert host.save_settings("preheat", {"nozzle": "205"}) == {"nozzle": 205}
    assert saved == [{"id": "preheat", "key": "preheat", "values": {"nozzle": 205}}]
    assert sent.wait(30), "the commands were not sent again after the settings were saved"
    assert host.store.values("preheat") == {"nozzle": 205}


def test_bad_settings_are_refused_and_nothing_is_stored(make_host: Any, plugins: Path, kit: Any) -> None:
    kit.write_script(plugins, "preheat", HEATER)
    host = make_host(warm=False)
    with pytest.raises(SettingsError, match='nozzle: expected an integer, got "hot"'):
        host.save_settings("preheat", {"label": "PETG", "nozzle": "hot"})
    assert host.store.values("preheat") == {}


def test_broken_commands_never_block_the_connection(make_host: Any, plugins: Path, kit: Any) -> None:
    kit.write_script(plugins, "preheat", HEATER.replace('settings["nozzle"]', "(1 // 0)"))
    host = make_host()
    warnings: list[str] = []
    host.events.subscribe(lambda e: warnings.append(e["payload"]["message"]), [ev.MACHINE_WARNING])
    assert host.machine().state == "ready"
    assert warnings and warnings[0].startswith("preheat: __script_commands__: ZeroDivisionError")


def test_fd_output_of_commands_goes_to_the_host_log(make_host: Any, plugins: Path, kit: Any,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    writing = HEATER.replace("    # computed", "    import os\n    os.write(2, b'hot\\n')\n    # computed")
    kit.write_script(plugins, "preheat", writing)
    caplog.set_level("INFO", logger="scriptdeck.commands")
    host = make_host()
    assert nozzle_target(host) == "180.00"
    assert ("scriptdeck.commands", 30, "preheat: stderr: hot") in caplog.record_tuples


def test_normalise() -> None:
    assert normalise("G28\n\nM105", "x") == ["G28", "M105"]
    assert normalise(["G28", "M104 S1\nM105"], "x") == ["G28", "M104 S1", "M105"]
    assert normalise(None, "x") == []
    with pytest.raises(TypeError, match="x: expected a string or a list of strings, got int"):
        normalise(3, "x")
