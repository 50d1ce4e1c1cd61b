"""plugin.json (seed 004): every validation rule with its exact message, service ids, icons, fuzzing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scriptdeck.plugins.manifest import load_manifest
from scriptdeck.plugins.model import Plugin, PluginStatus, ServiceKind

SKIP = "; service skipped"


def only_error(plugin: Plugin) -> str:
    assert plugin.status == PluginStatus.ERROR
    assert len(plugin.errors) == 1, plugin.errors
    return plugin.errors[0]


def skipped(plugin: Plugin) -> list[str]:
    """The warnings of a plugin whose only service was skipped (its error is checked too)."""
    assert plugin.status == PluginStatus.ERROR
    assert plugin.services == []
    assert plugin.errors[-1].endswith("services: no valid service (1 skipped, see the warnings)")
    return plugin.warnings


# -- the seed example and a clean load ------------------------------------------------------


def test_seed_hello_world_example_loads_cleanly() -> None:
    folder = Path(__file__).parents[2] / "examples" / "plugins" / "HelloWorld"
    plugin = load_manifest(folder, folder.parent)
    assert (plugin.errors, plugin.warnings, plugin.status) == ([], [], PluginStatus.OK)
    assert (plugin.id, plugin.name, plugin.version, plugin.author) == (
        "HelloWorld", "Hello World Plugin", 0, "Glax",
    )
    [service] = plugin.services
    assert service.id == "HelloWorld/hello-world"
    assert service.kind == ServiceKind.ACTION
    assert (service.label, service.tooltip) == ("Hello world", "Does nothing useful")
    assert service.script is not None
    assert (service.script.module, service.script.function) == ("hello_world", "main")
    assert service.script.path == (folder / "hello_world.py").resolve()
    assert service.settings.defaults() == {"greeting": "Hello World"}


def test_printer_setup_example_uses_every_setting_type_and_both_icon_kinds() -> None:
    folder = Path(__file__).parents[2] / "examples" / "plugins" / "PrinterSetup"
    plugin = load_manifest(folder, folder.parent)
    assert (plugin.errors, plugin.warnings, plugin.status) == ([], [], PluginStatus.OK)
    types = {f.type for s in plugin.services for f in s.settings}
    assert types == {"info", "bool", "int", "float", "string", "choice", "color"}
    choices = [f for s in plugin.services for f in s.settings if f.type == "choice"]
    assert {type(f.choices[0].label) for f in choices} == {str} and len(choices) == 2
    assert plugin.services[0].icon == str((folder / "icon.svg").resolve())
    assert plugin.services[1].icon.startswith("theme:")


def test_name_defaults_to_the_plugin_id(folders: Any) -> None:
    plugin = folders.load(folders.manifest())
    assert (plugin.name, plugin.version, plugin.description, plugin.author) == ("Hello", 0, "", "")
    assert plugin.errors == plugin.warnings == []


# -- the file -------------------------------------------------------------------------------


def test_syntax_error_names_line_and_column(folders: Any) -> None:
    plugin = folders.load('{\n  "engine": "python",\n  "services": [,]\n}')
    assert only_error(plugin) == f"{folders.file()}: line 3, column 16: invalid JSON: Expecting value"


def test_nan_is_not_json(folders: Any) -> None:
    plugin = folders.load('{"engine": "python", "services": [], "version": NaN}')
    assert only_error(plugin) == (
        f"{folders.file()}: invalid JSON: NaN is not a JSON value (JSON has no NaN or Infinity)"
    )


def test_not_utf8(folders: Any) -> None:
    plugin = folders.load(b'{"name": "\xff"}')
    assert only_error(plugin) == f"{folders.file()}: not UTF-8 text (bad byte at offset 10); save the file as UTF-8"


def test_utf8_bom_is_accepted(folders: Any) -> None:
    plugin = folders.load(b"\xef\xbb\xbf" + json.dumps(folders.manifest()).encode())
    assert plugin.status == PluginStatus.OK


def test_duplicate_keys_warn_and_the_last_value_is_used(folders: Any) -> None:
    text = """{
      "name": "First", "engine": "python", "name": "Second",
      "services": [{
        "type": "action", "label": "A", "label": "B", "label": "C",
        "script": {"module": "hello", "function": "main", "settings": [
          {"name": "n", "type": "int"},
          {"name": "m", "type": "int", "default": 1, "default": 2}
        ]}
      }]
    }"""
    plugin = folders.load(text)
    assert (plugin.status, plugin.name, plugin.services[0].label) == (PluginStatus.OK, "Second", "C")
    assert plugin.services[0].settings.defaults() == {"n": 0, "m": 2}
    rule = "(a key must appear only once in an object)"
    assert plugin.warnings == [
        f'{folders.file()}: name: duplicate key "name": the last value "Second" is used, the earlier "First" is '
        f"ignored {rule}",
        f'{folders.file()}: services[0].label: duplicate key "label": the last value "C" is used, the earlier '
        f'"A", "B" are ignored {rule}',
        f'{folders.file()}: services[0].script.settings[1].default: duplicate key "default": the last value 2 is '
        f"used, the earlier 1 is ignored {rule}",
    ]


def test_duplicate_keys_are_checked_before_the_rules(folders: Any) -> None:
    plugin = folders.load('{"engine": "lua", "services": [], "engine": "python", "services": 3}')
    assert plugin.warnings == [
        f'{folders.file()}: engine: duplicate key "engine": the last value "python" is used, the earlier "lua" is '
        "ignored (a key must appear only once in an object)",
        f'{folders.file()}: services: duplicate key "services": the last value 3 is used, the earlier [] is '
        "ignored (a key must appear only once in an object)",
    ]
    assert plugin.errors == [f"{folders.file()}: services: expected an array of services, got 3"]


def test_missing_manifest(folders: Any) -> None:
    plugin = folders.load(None)
    assert only_error(plugin) == f"{folders.file()}: cannot read the manifest: No such file or directory"


@pytest.mark.parametrize(("text", "shown"), [("[1, 2]", "[1, 2]"), ('"x"', '"x"'), ("null", "null")])
def test_top_level_must_be_an_object(folders: Any, text: str, shown: str) -> None:
    plugin = folders.load(text)
    assert only_error(plugin) == f"{folders.file()}: expected a JSON object at the top level, got {shown}"


@pytest.mark.parametrize("key", ["engine", "services"])
def test_required_keys(folders: Any, key: str) -> None:
    data = folders.manifest()
    del data[key]
    assert only_error(folders.load(data)) == f"{folders.file()}: {key}: required key missing"


@pytest.mark.parametrize("key", ["name", "description", "author"])
def test_string_keys(folders: Any, key: str) -> None:
    plugin = folders.load(folders.manifest(**{key: 3}))
    assert only_error(plugin) == f"{folders.file()}: {key}: expected a string, got 3"


def test_null_optional_key_reads_as_absent(folders: Any) -> None:
    plugin = folders.load(folders.manifest(name=None, icon=None, version=None))
    assert (plugin.status, plugin.name, plugin.icon, plugin.version) == (PluginStatus.OK, "Hello", None, 0)


def test_engine_must_be_known(folders: Any) -> None:
    plugin = folders.load(folders.manifest(engine="lua"))
    assert only_error(plugin) == f'{folders.file()}: engine: unknown engine "lua" (known: python)'
    plugin = folders.load(folders.manifest(engine=["python"]))
    assert only_error(plugin) == f'{folders.file()}: engine: expected a string, got ["python"]'


@pytest.mark.parametrize(("value", "expected"), [(3, 3), (2.0, 2), (-1, -1), (0, 0)])
def test_version_integer(folders: Any, value: object, expected: int) -> None:
    plugin = folders.load(folders.manifest(version=value))
    assert (plugin.status, plugin.version) == (PluginStatus.OK, expected)


@pytest.mark.parametrize(("value", "shown"), [(1.5, "1.5"), ("2", '"2"'), (True, "true"), ([1], "[1]")])
def test_version_not_integer(folders: Any, value: object, shown: str) -> None:
    plugin = folders.load(folders.manifest(version=value))
    assert only_error(plugin) == f"{folders.file()}: version: expected an integer, got {shown}"


def test_unknown_top_level_key_is_a_warning(folders: Any) -> None:
    plugin = folders.load(folders.manifest(colour="red"))
    assert plugin.status == PluginStatus.OK
    assert plugin.warnings == [
        f'{folders.file()}: colour: unknown key "colour" ignored '
        "(known: name, description, version, engine, author, icon, services)"
    ]


def test_services_must_be_a_non_empty_array(folders: Any) -> None:
    plugin = folders.load(folders.manifest(services={"type": "action"}))
    assert only_error(plugin) == f'{folders.file()}: services: expected an array of services, got {{"type": "action"}}'
    plugin = folders.load(folders.manifest(services=[]))
    assert only_error(plugin) == f"{folders.file()}: services: expected at least one service, got []"


# -- services -------------------------------------------------------------------------------


def test_service_not_an_object(folders: Any) -> None:
    plugin = folders.load(folders.manifest(services=[3]))
    assert skipped(plugin) == [f"{folders.file()}: services[0]: expected a service object, got 3{SKIP}"]


def test_service_type_required_and_known(folders: Any) -> None:
    service = folders.action()
    del service["type"]
    assert skipped(folders.load(folders.manifest(service))) == [
        f"{folders.file()}: services[0].type: required key missing{SKIP}"
    ]
    assert skipped(folders.load(folders.manifest(folders.action(type="menu")))) == [
        f'{folders.file()}: services[0].type: unknown service type "menu" (known: action, format, automation){SKIP}'
    ]


def test_bad_service_is_skipped_and_the_others_load(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(type="menu"), folders.action(label="Second")))
    assert plugin.status == PluginStatus.OK
    assert [s.id for s in plugin.services] == ["Hello/second"]
    assert plugin.warnings == [
        f'{folders.file()}: services[0].type: unknown service type "menu" (known: action, format, automation){SKIP}'
    ]


def test_unknown_service_key_is_a_warning(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(lable="x", auto_open=True)))
    assert plugin.status == PluginStatus.OK
    known = "(known: type, id, label, tooltip, icon, script)"
    assert plugin.warnings == [
        f'{folders.file()}: services[0].lable: unknown key "lable" ignored {known}',
        f'{folders.file()}: services[0].auto_open: unknown key "auto_open" ignored {known}',
    ]


@pytest.mark.parametrize(("key", "value", "shown"), [("label", 1, "1"), ("tooltip", False, "false")])
def test_service_string_keys(folders: Any, key: str, value: object, shown: str) -> None:
    plugin = folders.load(folders.manifest(folders.action(**{key: value})))
    assert skipped(plugin) == [f"{folders.file()}: services[0].{key}: expected a string, got {shown}{SKIP}"]


# -- scripts ---------------------------------------------------------------------------------


def test_action_needs_a_script(folders: Any) -> None:
    service = folders.action()
    del service["script"]
    assert skipped(folders.load(folders.manifest(service))) == [
        f"{folders.file()}: services[0].script: required key missing{SKIP}"
    ]
    assert skipped(folders.load(folders.manifest(folders.action(script="hello.main")))) == [
        f'{folders.file()}: services[0].script: expected an object with "module" and "function", got "hello.main"{SKIP}'
    ]


def test_unknown_script_key(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(script={"module": "hello", "function": "main", "x": 1})))
    assert plugin.warnings == [
        f'{folders.file()}: services[0].script.x: unknown key "x" ignored (known: module, function, settings)'
    ]


@pytest.mark.parametrize("module", ["../hello", "sub/hello", "hello.py", "..", "pkg.mod", "", 3])
def test_module_must_be_a_plain_name(folders: Any, module: object) -> None:
    plugin = folders.load(folders.manifest(folders.action(script={"module": module, "function": "main"})))
    assert skipped(plugin) == [
        f"{folders.file()}: services[0].script.module: expected a module name in the plugin folder "
        f'(letters, digits and "_"; no path separators, dots or ".."), got {json.dumps(module)}{SKIP}'
    ]


def test_module_required(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(script={"function": "main"})))
    assert skipped(plugin) == [f"{folders.file()}: services[0].script.module: required key missing{SKIP}"]


def test_module_must_exist(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(script={"module": "nope", "function": "main"})))
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].script.module: "nope" not found: no nope.py or nope/__init__.py '
        f"in the plugin folder{SKIP}"
    ]


def test_module_may_be_a_package(folders: Any) -> None:
    files = {"pkg/__init__.py": "from .impl import main\n", "pkg/impl.py": "def main(w, d, s): pass\n"}
    plugin = folders.load(folders.manifest(folders.action(script={"module": "pkg", "function": "main"})), files)
    assert plugin.status == PluginStatus.OK
    assert plugin.services[0].script.path.name == "__init__.py"


def test_module_symlinked_from_outside_is_refused(folders: Any, tmp_path: Path) -> None:
    outside = tmp_path / "evil.py"
    outside.write_text("def main(w, d, s): pass\n")
    folder = folders.write(folders.manifest(folders.action(script={"module": "evil", "function": "main"})))
    (folder / "evil.py").symlink_to(outside)
    plugin = load_manifest(folder, folders.root)
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].script.module: "evil" resolves to {outside}, outside the plugin folder{SKIP}'
    ]


def test_module_that_does_not_parse(folders: Any) -> None:
    files = {"hello.py": "def main(:\n"}
    plugin = folders.load(folders.manifest(), files)
    assert skipped(plugin) == [
        f"{folders.file()}: services[0].script.module: hello.py does not parse: invalid syntax (line 1){SKIP}"
    ]


def test_function_required_and_an_identifier(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(script={"module": "hello"})))
    assert skipped(plugin) == [f"{folders.file()}: services[0].script.function: required key missing{SKIP}"]
    plugin = folders.load(folders.manifest(folders.action(script={"module": "hello", "function": "main()"})))
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].script.function: expected a function name (a Python identifier), '
        f'got "main()"{SKIP}'
    ]


def test_function_must_exist(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(script={"module": "hello", "function": "mian"})))
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].script.function: "mian" is not defined at the top level of hello.py '
        f"(no def, class, assignment or import of that name){SKIP}"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "async def main(w, d, s): pass\n",
        "class main: pass\n",
        "def _impl(w, d, s): pass\nmain = _impl\n",
        "main: object = print\n",
        "from os import path as main\n",
        "import main\n",
        "try:\n    from fast import main\nexcept ImportError:\n    def main(w, d, s): pass\n",
        "if True:\n    def main(w, d, s): pass\n",
        "from helpers import *\n",  # cannot be ruled out statically
    ],
)
def test_function_binding_forms(folders: Any, source: str) -> None:
    plugin = folders.load(folders.manifest(), {"hello.py": source})
    assert plugin.status == PluginStatus.OK, plugin.warnings


def test_function_nested_in_a_def_does_not_count(folders: Any) -> None:
    plugin = folders.load(folders.manifest(), {"hello.py": "def outer():\n    def main(w, d, s): pass\n"})
    assert plugin.status == PluginStatus.ERROR


# -- settings ---------------------------------------------------------------------------------


def with_settings(folders: Any, settings: object) -> Plugin:
    script = {"module": "hello", "function": "main", "settings": settings}
    return folders.load(folders.manifest(folders.action(script=script)))


def test_settings_problem_names_the_json_path(folders: Any) -> None:
    declared = [
        {"name": "a", "type": "string"},
        {"name": "b", "type": "bool"},
        {"name": "c", "type": "int", "max": "ten"},
    ]
    assert skipped(with_settings(folders, declared)) == [
        f'{folders.file()}: services[0].script.settings[2].max: expected a number, got "ten"{SKIP}'
    ]


def test_settings_must_be_an_array(folders: Any) -> None:
    assert skipped(with_settings(folders, {"a": 1})) == [
        f'{folders.file()}: services[0].script.settings: expected an array of settings objects, got {{"a": 1}}{SKIP}'
    ]


def test_settings_rules_reach_the_manifest(folders: Any) -> None:
    declared = [
        {"name": "speed", "type": "float", "min": 10, "max": 5},
        {"name": "mode", "type": "choice", "choices": ["a", "b"], "default": "c"},
        {"name": "n", "type": "bool"},
        {"name": "n", "type": "int", "default": 1, "max": 10},
        {"name": "k", "type": "int", "default": 11, "max": 10},
        {"type": "wobble", "name": "w"},
    ]
    at = f"{folders.file()}: services[0].script.settings"
    assert skipped(with_settings(folders, declared)) == [
        f"{at}[0].min: min 10 is greater than max 5{SKIP}",
        f'{at}[1].default: "c" is not one of the choices ("a", "b"){SKIP}',
        f'{at}[3].name: duplicate setting name "n" (first at services[0].script.settings[2]){SKIP}',
        f"{at}[4].default: 11 is above the maximum 10{SKIP}",
        f'{at}[5].type: unknown setting type "wobble" (known: info, bool, int, float, string, choice, color){SKIP}',
    ]


def test_duplicate_of_an_invalid_setting_is_reported(folders: Any) -> None:
    declared = [{"name": "speed", "type": "int", "min": "slow"}, {"name": "speed", "type": "float"}]
    at = f"{folders.file()}: services[0].script.settings"
    assert skipped(with_settings(folders, declared)) == [
        f'{at}[0].min: expected a number, got "slow"{SKIP}',
        f'{at}[1].name: duplicate setting name "speed" (first at services[0].script.settings[0]){SKIP}',
    ]


def test_settings_unknown_key_warns_without_skipping(folders: Any) -> None:
    plugin = with_settings(folders, [{"name": "a", "type": "string", "hint": "x"}])
    assert plugin.status == PluginStatus.OK
    assert plugin.warnings == [
        f'{folders.file()}: services[0].script.settings[0].hint: unknown key "hint" ignored '
        "(known: name, type, label, description, default, min, max, choices)"
    ]


def test_settings_key_with_no_effect_warns_without_skipping(folders: Any) -> None:
    declared = [{"name": "n", "type": "int"}, {"name": "a", "type": "bool"}, {"name": "speed", "type": "string", "min": 1}]
    plugin = with_settings(folders, [*declared, {"name": "k", "type": "int", "choices": [1, 2]}])
    at = f"{folders.file()}: services[0].script.settings"
    assert plugin.status == PluginStatus.OK
    assert plugin.warnings == [
        f'{at}[2].min: "min" has no effect on setting "speed" of type "string" (only int and float settings have '
        "bounds); 1 ignored",
        f'{at}[3].choices: "choices" has no effect on setting "k" of type "int" (only choice settings have choices); '
        "[1, 2] ignored",
    ]
    assert [f.name for f in plugin.services[0].settings] == ["n", "a", "speed", "k"]


def test_choices_keep_declaration_order(folders: Any) -> None:
    plugin = with_settings(
        folders,
        [
            {"name": "arr", "type": "choice", "choices": ["z", "a", "m"]},
            {"name": "obj", "type": "choice", "choices": {"Zeta": 26, "Alpha": 1, "Mu": 12}, "default": 1},
        ],
    )
    assert plugin.status == PluginStatus.OK
    arr, obj = plugin.services[0].settings
    assert [(c.label, c.value) for c in arr.choices] == [("z", "z"), ("a", "a"), ("m", "m")]
    assert arr.default == "z"
    assert [(c.label, c.value) for c in obj.choices] == [("Zeta", 26), ("Alpha", 1), ("Mu", 12)]
    assert obj.default == 1


# -- format services ----------------------------------------------------------------------------


def fmt(**overrides: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "type": "format",
        "name": "Plotter",
        "extensions": ["plt", "hpgl"],
        "open": {"module": "fmt", "function": "read"},
        "save": {"module": "fmt", "function": "write"},
    }
    service.update(overrides)
    return {k: v for k, v in service.items() if v is not None}


def test_format_service(folders: Any) -> None:
    plugin = folders.load(folders.manifest(fmt(auto_open=False)))
    assert (plugin.status, plugin.warnings) == (PluginStatus.OK, [])
    [service] = plugin.services
    assert (service.id, service.kind, service.label, service.slug) == ("Hello/plt", ServiceKind.FORMAT, "Plotter", "plt")
    assert service.extensions == ("plt", "hpgl")
    assert (service.can_open, service.can_save, service.auto_open) == (True, True, False)


def test_format_open_only_and_explicit_slug(folders: Any) -> None:
    plugin = folders.load(folders.manifest(fmt(save=None, slug="hp-gl")))
    [service] = plugin.services
    assert (service.id, service.can_open, service.can_save) == ("Hello/hp-gl", True, False)


def test_format_needs_open_or_save(folders: Any) -> None:
    plugin = folders.load(folders.manifest(fmt(open=None, save=None)))
    assert skipped(plugin) == [f'{folders.file()}: services[0]: a format service needs "open", "save" or both{SKIP}']


def test_format_extensions_rules(folders: Any) -> None:
    at = f"{folders.file()}: services[0].extensions"
    assert skipped(folders.load(folders.manifest(fmt(extensions=None)))) == [f"{at}: required key missing{SKIP}"]
    assert skipped(folders.load(folders.manifest(fmt(extensions="plt")))) == [
        f'{at}: expected an array of extensions, got "plt"{SKIP}'
    ]
    assert skipped(folders.load(folders.manifest(fmt(extensions=[])))) == [
        f"{at}: expected at least one extension, got []{SKIP}"
    ]
    assert skipped(folders.load(folders.manifest(fmt(extensions=["plt", 7, "a b"])))) == [
        f"{at}[1]: expected a string, got 7{SKIP}",
        f'{at}[2]: expected an extension such as "gcode" (letters, digits, "_", ".", "+" or "-", starting with '
        f'a letter, digit or "_"), got "a b"{SKIP}',
    ]


def test_extension_with_a_leading_dot_is_stripped_with_a_warning(folders: Any) -> None:
    plugin = folders.load(folders.manifest(fmt(extensions=[".gcode", "nc"])))
    assert plugin.status == PluginStatus.OK
    assert plugin.services[0].extensions == ("gcode", "nc")
    assert plugin.services[0].slug == "gcode"
    assert plugin.warnings == [
        f'{folders.file()}: services[0].extensions[0]: ".gcode" starts with a dot; read as "gcode" '
        "(write extensions without it)"
    ]


def test_format_auto_open_must_be_a_bool(folders: Any) -> None:
    plugin = folders.load(folders.manifest(fmt(auto_open="no")))
    assert skipped(plugin) == [f'{folders.file()}: services[0].auto_open: expected true or false, got "no"{SKIP}']


def test_format_bad_slug(folders: Any) -> None:
    plugin = folders.load(folders.manifest(fmt(slug="my format")))
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].slug: expected letters, digits, "_", ".", "+" or "-", starting with a '
        f'letter, digit or "_", got "my format"{SKIP}'
    ]


def test_format_open_and_save_have_their_own_settings(folders: Any) -> None:
    opener = {"module": "fmt", "function": "read", "settings": [{"name": "scale", "type": "float", "default": 1}]}
    plugin = folders.load(folders.manifest(fmt(open=opener)))
    service = plugin.services[0]
    assert service.settings_for("open").defaults() == {"scale": 1.0}
    assert service.settings_for("save").defaults() == {}


# -- automation services ---------------------------------------------------------------------------


def auto(**overrides: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "type": "automation",
        "title": "Purge line",
        "script": {"module": "auto", "function": "Purge", "settings": [{"name": "length", "type": "float"}]},
        "commands": {"module": "auto", "function": "on_connect"},
    }
    service.update(overrides)
    return {k: v for k, v in service.items() if v is not None}


def test_automation_service(folders: Any) -> None:
    plugin = folders.load(folders.manifest(auto()))
    assert (plugin.status, plugin.warnings) == (PluginStatus.OK, [])
    [service] = plugin.services
    assert (service.id, service.kind, service.label) == ("Hello/purge-line", ServiceKind.AUTOMATION, "Purge line")
    assert service.commands is not None and service.commands.function == "on_connect"
    assert service.settings.defaults() == {"length": 0.0}


def test_automation_title_falls_back_to_label_then_class(folders: Any) -> None:
    plugin = folders.load(folders.manifest(auto(title=None, label="Prime"), auto(title=None, commands=None)))
    assert [(s.id, s.label) for s in plugin.services] == [("Hello/prime", "Prime"), ("Hello/Purge", "Purge")]


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("def Purge(g, logger, settings): pass\n", "'Purge' in auto.py is a function; an automation script names a class"),
        ("class Purge:\n    def run(self): pass\n", "class Purge in auto.py has no __init__(self, g, logger, settings)"),
        (
            "class Purge:\n    def __init__(self, g): pass\n    def run(self): pass\n",
            "Purge.__init__(self, g) in auto.py cannot be called as __init__(self, g, logger, settings)",
        ),
        ("class Purge:\n    def __init__(self, g, logger, settings): pass\n", "class Purge in auto.py has no run(self) method"),
        (
            "class Purge:\n    def __init__(self, g, logger, settings): pass\n    def run(self, speed): pass\n",
            "Purge.run(self, speed) in auto.py cannot be called as run(self)",
        ),
    ],
)
def test_automation_class_shape(folders: Any, source: str, why: str) -> None:
    plugin = folders.load(folders.manifest(auto(commands=None)), {"auto.py": source})
    assert skipped(plugin) == [f"{folders.file()}: services[0].script.function: {why}{SKIP}"]


@pytest.mark.parametrize(
    "source",
    [
        "class Purge(Base):\n    pass\n",  # methods may come from the base class
        "class Purge:\n    def __init__(self, *args, **kw): pass\n    def run(self, speed=1): pass\n",
        "from purgelib import Purge\n",  # an import may well be a class
    ],
)
def test_automation_class_shapes_we_cannot_refuse(folders: Any, source: str) -> None:
    plugin = folders.load(folders.manifest(auto(commands=None)), {"auto.py": source})
    assert plugin.status == PluginStatus.OK, plugin.warnings


def test_automation_commands_function_must_exist(folders: Any) -> None:
    plugin = folders.load(folders.manifest(auto(commands={"module": "auto", "function": "gone", "settings": []})))
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].commands.settings: unknown key "settings" ignored (known: module, function)',
        f'{folders.file()}: services[0].commands.function: "gone" is not defined at the top level of auto.py '
        f"(no def, class, assignment or import of that name){SKIP}",
    ]


# -- service ids --------------------------------------------------------------------------------


def test_service_ids(folders: Any) -> None:
    plugin = folders.load(
        folders.manifest(
            folders.action(label="Pause at height!"),
            folders.action(label=None),
            folders.action(label="Pause at height"),
            folders.action(label="pause---at height"),
            folders.action(id="custom", label="Whatever"),
            fmt(),
            fmt(),
            auto(),
        )
    )
    assert plugin.status == PluginStatus.OK, plugin.warnings
    assert [s.id for s in plugin.services] == [
        "Hello/pause-at-height",
        "Hello/main",
        "Hello/pause-at-height-2",
        "Hello/pause-at-height-3",
        "Hello/custom",
        "Hello/plt",
        "Hello/plt-2",
        "Hello/purge-line",
    ]


def test_explicit_ids_are_reserved_before_derived_ones(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(label="Main"), folders.action(id="main", label="Other")))
    assert [s.id for s in plugin.services] == ["Hello/main-2", "Hello/main"]


def test_duplicate_explicit_id_warns(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(id="go"), folders.action(id="go")))
    assert [s.id for s in plugin.services] == ["Hello/go", "Hello/go-2"]
    assert plugin.warnings == [
        f'{folders.file()}: services[1].id: duplicate service id "go"; this one gets a numbered suffix'
    ]


def test_bad_explicit_id(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(id="a/b")))
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].id: expected letters, digits, "_", ".", "+" or "-", starting with a letter, '
        f'digit or "_", got "a/b"{SKIP}'
    ]


def test_skipped_services_take_no_id(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(type="x"), folders.action(), folders.action()))
    assert [s.id for s in plugin.services] == ["Hello/say-hello", "Hello/say-hello-2"]


# -- icons ----------------------------------------------------------------------------------------


def test_icon_file_and_service_fallback(folders: Any) -> None:
    files = {"icon.svg": "<svg/>", "icons/other.svg": "<svg/>"}
    plugin = folders.load(
        folders.manifest(
            folders.action(),
            folders.action(icon="icons/other.svg"),
            folders.action(icon="theme:document-save"),
            icon="icon.svg",
        ),
        files,
    )
    folder = (folders.root / "Hello").resolve()
    assert plugin.status == PluginStatus.OK
    assert plugin.icon == str(folder / "icon.svg")
    assert [s.icon for s in plugin.services] == [
        str(folder / "icon.svg"), str(folder / "icons" / "other.svg"), "theme:document-save",
    ]


def test_missing_icon_file_warns_and_falls_back(folders: Any) -> None:
    plugin = folders.load(folders.manifest(folders.action(icon="gone.svg"), icon="theme:printer"))
    assert plugin.status == PluginStatus.OK
    assert plugin.services[0].icon == "theme:printer"
    assert plugin.warnings == [
        f'{folders.file()}: services[0].icon: icon file "gone.svg" not found in the plugin folder; no icon shown'
    ]


def test_icon_escaping_with_dotdot(folders: Any) -> None:
    (folders.root / "shared.svg").write_text("<svg/>")
    plugin = folders.load(folders.manifest(icon="../shared.svg"))
    target = (folders.root / "shared.svg").resolve()
    assert only_error(plugin) == f'{folders.file()}: icon: "../shared.svg" resolves to {target}, outside the plugin folder'


def test_icon_escaping_with_a_symlink(folders: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("key")
    folder = folders.write(folders.manifest(folders.action(icon="icon.svg")))
    os.symlink(secret, folder / "icon.svg")
    plugin = load_manifest(folder, folders.root)
    assert skipped(plugin) == [
        f'{folders.file()}: services[0].icon: "icon.svg" resolves to {secret.resolve()}, outside the plugin folder{SKIP}'
    ]


def test_icon_symlink_inside_the_folder_is_fine(folders: Any) -> None:
    folder = folders.write(folders.manifest(icon="link.svg"), {"real.svg": "<svg/>"})
    os.symlink(folder / "real.svg", folder / "link.svg")
    plugin = load_manifest(folder, folders.root)
    assert (plugin.status, plugin.icon) == (PluginStatus.OK, str((folder / "real.svg").resolve()))


def test_absolute_icon_path_is_outside(folders: Any) -> None:
    plugin = folders.load(folders.manifest(icon="/etc/hostname"))
    assert only_error(plugin) == f'{folders.file()}: icon: "/etc/hostname" resolves to /etc/hostname, outside the plugin folder'


@pytest.mark.parametrize("name", ["document-save", "image-gif", "x", "media_playback.start", "go-up-2"])
def test_good_theme_icons(folders: Any, name: str) -> None:
    plugin = folders.load(folders.manifest(icon=f"theme:{name}"))
    assert (plugin.status, plugin.icon) == (PluginStatus.OK, f"theme:{name}")


@pytest.mark.parametrize("name", ["", "Document-Save", "document save", "-save", "save-", "a/b", "émoji", "x\n"])
def test_bad_theme_icons(folders: Any, name: str) -> None:
    plugin = folders.load(folders.manifest(icon=f"theme:{name}"))
    assert only_error(plugin) == (
        f"{folders.file()}: icon: {json.dumps('theme:' + name, ensure_ascii=False)} is not a freedesktop icon name "
        '(lowercase ASCII letters, digits, "-", "_" and ".", e.g. "theme:document-save")'
    )


@pytest.mark.parametrize(("value", "shown"), [(3, "3"), ("", '""'), ("a\u0000b", '"a\\u0000b"')])
def test_icon_not_a_usable_name(folders: Any, value: object, shown: str) -> None:
    plugin = folders.load(folders.manifest(icon=value))
    assert only_error(plugin) == (
        f'{folders.file()}: icon: expected a file name in the plugin folder or "theme:NAME", got {shown}'
    )


# -- fuzzing ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["type", "id", "label", "script", "module", "function", "settings", "extensions", "slug", "open", "save",
     "auto_open", "icon", "name", "min", "max", "default", "choices", "commands", "title", "version"]
)
words = st.sampled_from(
    ["action", "format", "automation", "hello", "main", "auto", "Purge", "fmt", "read", "int", "float",
     "choice", "color", "bool", "info", "string", "theme:x", "../x", ".gcode", "python"]
)
near = st.recursive(
    words | json_values,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)


def assert_consistent(plugin: Plugin) -> None:
    assert plugin.status in (PluginStatus.OK, PluginStatus.ERROR)
    assert (plugin.status == PluginStatus.ERROR) == bool(plugin.errors)
    if plugin.status == PluginStatus.OK:
        assert plugin.services
    for message in plugin.errors + plugin.warnings:
        assert message.startswith(str(plugin.path / "plugin.json") + ": ")
    json.dumps(plugin.to_json())
    assert len({s.id for s in plugin.services}) == len(plugin.services)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=json_values)
def test_fuzz_random_json_never_raises(folders: Any, data: object) -> None:
    assert_consistent(folders.load(json.dumps(data)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(services=st.lists(near, max_size=4), extra=st.dictionaries(keys, near, max_size=3))
def test_fuzz_near_manifests_never_raise(folders: Any, services: list[object], extra: dict[str, object]) -> None:
    assert_consistent(folders.load(json.dumps({"engine": "python", "services": services, **extra})))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60) | st.binary(max_size=60))
def test_fuzz_arbitrary_bytes_never_raise(folders: Any, text: str | bytes) -> None:
    assert_consistent(folders.load(text if isinstance(text, bytes) else text.encode()))
