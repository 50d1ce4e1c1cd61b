"""Worker: isolation of plugin modules, fresh code on every run, exact call signatures, proxies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scriptdeck.host import Host
from scriptdeck.runtime.ui import RecordingWindow

pytestmark = pytest.mark.timeout(60)


def _say(expr: str, *, imports: str = "") -> str:
    return f"{imports}\n\ndef main(window, document, settings):\n    window.information(str({expr}))\n"


def _said(result: Any) -> list[str]:
    assert result.outcome == "finished", (result.error, result.log)
    return [m["message"] for m in result.messages]


def test_two_plugins_with_same_named_modules_each_get_their_own(host: Host, plugins: Path, kit: Any) -> None:
    for name in ("Alpha", "Beta"):
        kit.plugin_folder(plugins, name, [kit.action_service()], {
            "helpers.py": f"WHO = {name!r}\n",
            "main.py": _say("(helpers.WHO, rel.WHO, helpers is rel)",
                            imports="import helpers\nfrom . import helpers as rel"),
        })
    host.reload()
    assert _said(host.run("Alpha")) == ["('Alpha', 'Alpha', True)"]
    assert _said(host.run("Beta")) == ["('Beta', 'Beta', True)"]


def test_plugin_modules_never_shadow_stdlib_or_installed(host: Host, plugins: Path, kit: Any) -> None:
    kit.plugin_folder(plugins, "Shadow", [kit.action_service()], {
        "json.py": "SHADOW = True\n",
        "mecode.py": "SHADOW = True\n",
        "main.py": _say("(hasattr(json, 'dumps'), hasattr(mecode, 'G'), json.__name__)",
                        imports="import json\nimport mecode"),
    })
    host.reload()
    assert _said(host.run("Shadow")) == ["(True, True, 'json')"]


def test_a_module_named_like_stdlib_still_loads_as_the_plugin_module(host: Host, plugins: Path, kit: Any) -> None:
    kit.plugin_folder(plugins, "Strings", [kit.action_service(module="string")],
                      {"string.py": _say("__name__.split('.')[-1]")})
    host.reload()
    assert _said(host.run("Strings")) == ["string"]


def test_edit_and_rerun_runs_the_new_code(host: Host, plugins: Path, kit: Any) -> None:
    folder = kit.plugin_folder(plugins, "Edit", [kit.action_service()],
                               {"main.py": _say("'one'"), "helpers.py": "X = 1\n"})
    host.reload()
    assert _said(host.run("Edit")) == ["one"]
    # Same size, same second: a pyc cache keyed on mtime (s) and size would serve the old code.
    (folder / "main.py").write_text(_say("'two'"))
    assert _said(host.run("Edit")) == ["two"]
    assert not (folder / "__pycache__").exists()


def test_action_receives_window_document_settings_and_changes_the_document(
    host: Host, plugins: Path, kit: Any
) -> None:
    settings = [{"name": "z", "type": "float", "default": 1.0}]
    kit.plugin_folder(plugins, "Doc", [kit.action_service(settings=settings)], {"main.py": """
        def main(window, document, settings):
            with document.step("add"):
                document.append("G1 Z%s" % settings["z"])
            window.warning("lines: %d" % len(document))
    """})
    host.reload()
    result = host.run("Doc", document="G28\n", settings={"z": "2.5"})
    assert _said(result) == ["lines: 2"]
    assert result.document_text == "G28\nG1 Z2.5\n"
    unchanged = host.run("Doc", document="G28\n", settings={"z": 1})
    assert unchanged.document_text is not None  # it appended again: changed


def test_questions_are_answered_by_the_window(host: Host, plugins: Path, kit: Any) -> None:
    kit.plugin_folder(plugins, "Ask", [kit.action_service()], {"main.py": """
        def main(window, document, settings):
            yes = window.question("Proceed?")
            pick = window.choose_option("Which?", ["a", "b", "c"], 1)
            window.information(f"{yes} {pick}")
    """})
    host.reload()
    assert _said(host.run("Ask")) == ["True 1"]
    window = RecordingWindow(answers=[False, 2])
    host.run("Ask", window=window)
    assert [m.message for m in window.messages] == ["False 2"]
    assert [(p.kind, p.message, p.options) for p in window.prompts] == [
        ("question", "Proceed?", ()), ("choose_option", "Which?", ("a", "b", "c"))]


def test_logger_print_and_exception_text_reach_the_run_log(host: Host, plugins: Path, kit: Any) -> None:
    kit.automation(plugins, "logs", """
        print("printed")
        self.logger.warning("careful %d", 3)
        try:
            1 / 0
        except ZeroDivisionError:
            self.logger.exception("caught")
        return True, {}
    """)
    host.reload()
    log = host.run("logs").log
    by_message = {r["message"]: r for r in log}
    assert by_message["printed"]["level"] == "INFO"
    assert by_message["careful 3"]["level"] == "WARNING"
    assert "ZeroDivisionError" in by_message["caught"]["exc_text"]
    assert by_message["caught"]["time"].endswith("+00:00")


def test_status_set_inside_a_property_is_seen(host: Host, plugins: Path, kit: Any, recorder: Any) -> None:
    kit.automation(plugins, "prop", """
        self._n = 5
        time.sleep(0.2)
        return True, {}
    """, init="self._n = 0")
    # script_status as a computed property: only the watcher thread can notice the change.
    script = plugins / "prop.py"
    script.write_text(script.read_text().replace(
        "        self.script_status = None\n", "").replace(
        "    def run(self):", "    @property\n    def script_status(self):\n"
        "        return f'n={self._n}' if self._n else None\n\n    def run(self):"))
    host.reload()
    result = host.run("prop")
    assert [s["status"] for s in result.status_history] == ["n=5"]


def _format(save_body: str = "file.write(document.text.upper().encode())", auto_open: bool = True) -> dict[str, Any]:
    return {
        "type": "format", "name": "Upper", "extensions": ["up"], "auto_open": auto_open,
        "open": {"module": "fmt", "function": "load"},
        "save": {"module": "fmt", "function": "save"},
    }


FORMAT_MODULE = """
def load(window, document, file, filename, import_export, settings):
    import_export.progress_max_changed(2)
    data = file.read()
    if b"bad" in data:
        import_export.error("bad data in " + filename.rsplit("/", 1)[-1])
    document.append(data.decode().lower().strip())
    import_export.progress(2)


def save(window, document, file, filename, import_export, settings):
    if "explode" in document.text:
        file.write(b"partial")
        raise RuntimeError("disk on fire")
    file.write(document.text.upper().encode())
"""


def test_format_open_and_save(host: Host, plugins: Path, kit: Any, tmp_path: Path, recorder: Any) -> None:
    kit.plugin_folder(plugins, "Up", [_format()], {"fmt.py": FORMAT_MODULE})
    host.reload()
    source = tmp_path / "in.up"
    source.write_bytes(b"G28\n")
    opened = host.run("Up", direction="open", file=source)
    assert opened.outcome == "finished" and (opened.document_text or "").strip() == "g28"
    assert recorder.names(opened.run_id, "Format") == ["FormatStarted", "FormatOpened"]
    assert recorder.names(opened.run_id, "RunProgress") == ["RunProgress", "RunProgress"]
    target = tmp_path / "out.up"
    target.write_bytes(b"OLD")
    saved = host.run("Up", direction="save", file=target, document="g1 x1\n")
    assert saved.outcome == "finished" and target.read_bytes() == b"G1 X1\n"
    # A save that fails halfway leaves the old file intact, and no temp file behind.
    failed = host.run("Up", direction="save", file=target, document="explode\n")
    assert failed.outcome == "error" and "disk on fire" in (failed.error or "")
    assert target.read_bytes() == b"G1 X1\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".part") == []


def test_format_import_export_error_fails_the_run(host: Host, plugins: Path, kit: Any, tmp_path: Path,
                                                  recorder: Any) -> None:
    kit.plugin_folder(plugins, "Up", [_format()], {"fmt.py": FORMAT_MODULE})
    host.reload()
    source = tmp_path / "in.up"
    source.write_bytes(b"bad\n")
    result = host.run("Up", direction="open", file=source)
    assert result.outcome == "failed"
    assert recorder.for_run(result.run_id, "FormatFailed") == [("FormatFailed", {
        "id": "Up/up", "label": "Upper", "direction": "open", "filename": str(source),
        "messages": ["bad data in in.up"]})]


def test_format_without_auto_open_opens_the_file_itself(host: Host, plugins: Path, kit: Any,
                                                        tmp_path: Path) -> None:
    kit.plugin_folder(plugins, "Lazy", [_format(auto_open=False)], {"fmt.py": """
def load(window, document, file, filename, import_export, settings):
    try:
        file.read()
    except ValueError as exc:
        window.information(str(exc).split(": ", 1)[1])
    with file.open("rb") as f:
        document.append(f.read().decode().strip())


def save(window, document, file, filename, import_export, settings):
    file.open("w")
    file.write(document.text)
    file.close()
"""})
    host.reload()
    source = tmp_path / "a.up"
    source.write_text("M105\n")
    opened = host.run("Lazy", direction="open", file=source)
    assert (opened.document_text or "").strip() == "M105"
    assert [m["message"] for m in opened.messages] == ["not open yet; call file.open('rb') or file.open('wb') first"]
    target = tmp_path / "b.up"
    assert host.run("Lazy", direction="save", file=target, document="M106\n").outcome == "finished"
    assert target.read_text() == "M106\n"
