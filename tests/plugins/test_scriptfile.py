"""Automation script files (seed 000): AST extraction, every validation rule, the import fallback."""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scriptdeck.plugins import scriptfile
from scriptdeck.plugins.model import Plugin, PluginStatus, ScriptRef, ServiceKind
from scriptdeck.plugins.scriptfile import load_script_file, load_script_files

CLASS = """
class Purge:
    def __init__(self, g, logger, settings):
        self.g = g

    def run(self):
        return True, {}
"""

DEFAULTS = {
    "__script_id__": '"purge"',
    "__script_title__": '"Purge line"',
    "__script_obj__": "Purge",
}


def source(body: str = CLASS, **magic: str | None) -> str:
    """A script file: `body`, then the magic variables (DEFAULTS overridden; None removes one)."""
    values = {**DEFAULTS, **{f"__script_{k}__": v for k, v in magic.items()}}
    lines = [f"{name} = {value}" for name, value in values.items() if value is not None]
    return textwrap.dedent(body) + "\n" + "\n".join(lines) + "\n"


def write(folder: Path, text: str, name: str = "purge.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def load(folder: Path, text: str, name: str = "purge.py", timeout: float = 5) -> Plugin:
    plugin = load_script_file(write(folder, text, name), folder, import_timeout=timeout)
    assert plugin is not None
    return plugin


def only_error(plugin: Plugin) -> str:
    assert plugin.status == PluginStatus.ERROR
    assert plugin.services == []
    assert len(plugin.errors) == 1, plugin.errors
    return plugin.errors[0]


# -- a valid script ---------------------------------------------------------------------------


def test_valid_script_becomes_one_automation_service(tmp_path: Path) -> None:
    text = '"""Prime the nozzle\nwith a line.\n\nDetails nobody reads."""\n' + source(version="3")
    plugin = load(tmp_path, text)
    path = tmp_path / "purge.py"
    assert (plugin.id, plugin.kind, plugin.path, plugin.root) == ("purge", "script", path, tmp_path)
    assert (plugin.name, plugin.version, plugin.status) == ("Purge line", 3, PluginStatus.OK)
    assert plugin.description == "Prime the nozzle with a line."
    assert plugin.errors == plugin.warnings == []
    [service] = plugin.services
    assert (service.id, service.plugin_id, service.kind, service.label) == (
        "purge",
        "purge",
        ServiceKind.AUTOMATION,
        "Purge line",
    )
    assert service.script == ScriptRef(module="purge", function="Purge", path=path)
    assert service.commands is None and service.commands_literal is None


def test_files_without_magic_variables_are_not_plugins(tmp_path: Path) -> None:
    helper = write(tmp_path, "def helper():\n    return 1\n", "helper.py")
    mention = write(tmp_path, "# set __script_id__ in your scripts\nX = '__script_id__'\n", "notes.py")
    script = write(tmp_path, source())
    found = load_script_files([helper, script, mention], tmp_path)
    assert found[0] is None and found[2] is None
    assert found[1] is not None and found[1].id == "purge"


def test_literal_files_are_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    body = f"open({str(marker)!r}, 'w').close()\n" + CLASS
    plugin = load(tmp_path, source(body, settings="{'speed': 3000}"), name="sideeffect_probe.py")
    assert plugin.status == PluginStatus.OK
    assert not marker.exists()
    assert "sideeffect_probe" not in sys.modules


# -- __script_id__ / __script_title__ -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "__script_id__: required variable missing"),
        ("42", "__script_id__: expected a string, got 42"),
        ('""', "__script_id__: must not be empty"),
        ('"purge-line"', '__script_id__: "purge-line" must not contain spaces or dashes'),
        ('"purge line"', '__script_id__: "purge line" must not contain spaces or dashes'),
        ('"cancel"', '__script_id__: "cancel" is reserved (the host\'s cancel command)'),
    ],
)
def test_script_id_rules(tmp_path: Path, value: str | None, message: str) -> None:
    plugin = load(tmp_path, source(id=value))
    assert only_error(plugin) == f"{tmp_path / 'purge.py'}: {message}"


def test_invalid_id_still_names_the_plugin(tmp_path: Path) -> None:
    assert load(tmp_path, source(id='"purge-line"')).id == "purge-line"
    assert load(tmp_path, source(id="42"), name="other.py").id == "other"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "__script_title__: required variable missing"),
        ("['Purge']", '__script_title__: expected a string, got ["Purge"]'),
        ('"  "', "__script_title__: must not be empty"),
    ],
)
def test_script_title_rules(tmp_path: Path, value: str | None, message: str) -> None:
    plugin = load(tmp_path, source(title=value))
    assert only_error(plugin) == f"{tmp_path / 'purge.py'}: {message}"
    assert plugin.name == "purge"


def test_version_must_be_a_non_negative_integer(tmp_path: Path) -> None:
    plugin = load(tmp_path, source(version='"1.2"'))
    assert plugin.status == PluginStatus.OK and plugin.version == 0
    assert plugin.warnings == [
        f'{tmp_path / "purge.py"}: __script_version__: expected a non-negative integer, got "1.2"; using 0'
    ]


# -- __script_obj__ -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "value", "message"),
    [
        (CLASS, None, "required variable missing"),
        (CLASS, "Purger", "Purger is not defined in the file"),
        (CLASS, '"Purge"', 'expected a class, got "Purge"'),
        (CLASS, "None", "expected a class, got null"),
        (CLASS, "lambda g, logger, settings: None", "expected a class, got a lambda"),
        ("def purge(g, logger, settings):\n    pass\n", "purge", "expected a class, got the function purge"),
        ("class Purge:\n    def run(self):\n        pass\n", "Purge", "Purge has no __init__(self, g, logger, settings)"),
        (
            "class Purge:\n    def __init__(self, g, logger):\n        pass\n    def run(self):\n        pass\n",
            "Purge",
            "Purge.__init__(self, g, logger) must take (self, g, logger, settings)",
        ),
        (
            "class Purge:\n    def __init__(self, g, logger, settings, *, port):\n        pass\n"
            "    def run(self):\n        pass\n",
            "Purge",
            "Purge.__init__(self, g, logger, settings, *, port) must take (self, g, logger, settings)",
        ),
        (
            "class Purge:\n    def __init__(self, g, logger, settings):\n        pass\n",
            "Purge",
            "Purge has no run(self) method",
        ),
        (
            "class Purge:\n    def __init__(self, g, logger, settings):\n        pass\n"
            "    def run(self, speed):\n        pass\n",
            "Purge",
            "Purge.run(self, speed) must take no arguments besides self",
        ),
        (
            "class Purge:\n    def __init__(self, g, logger, settings):\n        pass\n"
            "    async def run(self):\n        pass\n",
            "Purge",
            "Purge.run must be a plain def, not async def",
        ),
    ],
)
def test_script_obj_rules(tmp_path: Path, body: str, value: str | None, message: str) -> None:
    plugin = load(tmp_path, source(body, obj=value))
    assert only_error(plugin) == f"{tmp_path / 'purge.py'}: __script_obj__: {message}"


def test_flexible_signatures_are_accepted(tmp_path: Path) -> None:
    body = """
    class Purge:
        def __init__(self, *args, verbose=False, **kwargs):
            pass

        def run(self, dry_run=False):
            return True, {}
    """
    assert load(tmp_path, source(body)).status == PluginStatus.OK


def test_methods_inherited_within_the_file_are_followed(tmp_path: Path) -> None:
    body = """
    class Base(object):
        def __init__(self, g, logger, settings):
            self.g = g

    class Middle(Base):
        script_status = None

    class Mixin:
        def run(self):
            return True, {}

    class Purge(Middle, Mixin):
        pass

    Alias = Purge
    """
    plugin = load(tmp_path, source(body, obj="Alias"))
    assert plugin.status == PluginStatus.OK, plugin.errors
    assert plugin.services[0].script == ScriptRef(module="purge", function="Purge", path=tmp_path / "purge.py")


def test_a_bad_inherited_init_is_reported(tmp_path: Path) -> None:
    body = """
    class Base:
        def __init__(self, g):
            pass

    class Purge(Base):
        def run(self):
            return True, {}
    """
    message = only_error(load(tmp_path, source(body)))
    assert message.endswith("__script_obj__: Purge.__init__(self, g) must take (self, g, logger, settings)")


def test_a_base_class_from_an_import_is_checked_by_importing(tmp_path: Path) -> None:
    write(tmp_path, CLASS.replace("Purge", "Base"), "purge_base.py")
    body = "from purge_base import Base\n\nclass Purge(Base):\n    pass\n"
    plugin = load(tmp_path, source(body))
    assert plugin.status == PluginStatus.OK, plugin.errors
    assert plugin.services[0].script is not None and plugin.services[0].script.function == "Purge"


# -- __script_commands__ ------------------------------------------------------------------------


def test_commands_lambda_with_a_literal_result(tmp_path: Path) -> None:
    plugin = load(tmp_path, source(commands='lambda settings: ["M155 S2", "M204 S800"]'))
    [service] = plugin.services
    assert service.commands == ScriptRef(module="purge", function="__script_commands__", path=tmp_path / "purge.py")
    assert service.commands_literal == ("M155 S2", "M204 S800")


def test_commands_def_is_referenced_by_name(tmp_path: Path) -> None:
    body = CLASS + '\ndef on_connect(settings):\n    """Report temperatures."""\n    return "M155 S2"\n'
    [service] = load(tmp_path, source(body, commands="on_connect")).services
    assert service.commands is not None and service.commands.function == "on_connect"
    assert service.commands_literal == ("M155 S2",)


def test_commands_depending_on_settings_have_no_literal(tmp_path: Path) -> None:
    body = CLASS + '\ndef __script_commands__(settings):\n    return f"M140 S{settings[\'bed\']}"\n'
    [service] = load(tmp_path, source(body)).services
    assert service.commands is not None and service.commands.function == "__script_commands__"
    assert service.commands_literal is None


def test_commands_none_means_no_commands(tmp_path: Path) -> None:
    [service] = load(tmp_path, source(commands="None")).services
    assert service.commands is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"M155 S2"', 'expected a callable taking the settings dict, got "M155 S2"'),
        ('["M155 S2"]', 'expected a callable taking the settings dict, got ["M155 S2"]'),
        ('lambda: "M155 S2"', "lambda() must take one argument (the settings dict)"),
        ("on_connect", "on_connect is not defined in the file"),
    ],
)
def test_commands_must_be_callable(tmp_path: Path, value: str, message: str) -> None:
    plugin = load(tmp_path, source(commands=value))
    assert only_error(plugin) == f"{tmp_path / 'purge.py'}: __script_commands__: {message}"


# -- __script_settings__ ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prelude", "value"),
    [
        ("", "{'bed': 60, 'speed': 1500.0, 'name': 'PLA', 'wipe': True}"),
        ("from collections import OrderedDict", "OrderedDict([('bed', 60), ('speed', 1500.0), ('name', 'PLA'), ('wipe', True)])"),
        ("import collections", "collections.OrderedDict((('bed', 60), ('speed', 1500.0), ('name', 'PLA'), ('wipe', True)))"),
        ("import collections as c", "c.OrderedDict(bed=60, speed=1500.0, name='PLA', wipe=True)"),
        ("from collections import OrderedDict as OD", "OD({'bed': 60, 'speed': 1500.0}, name='PLA', wipe=True)"),
        ("", "dict(bed=60, speed=1500.0, name='PLA', wipe=True)"),
        ("", "dict([('bed', 60), ('speed', 1500.0)], name='PLA', wipe=True)"),
        ("BED = 60\nSPEED = 25.0 * 60", "{'bed': BED, 'speed': SPEED, 'name': 'PLA', 'wipe': True}"),
    ],
)
def test_dict_settings_literal_forms(tmp_path: Path, prelude: str, value: str) -> None:
    marker = tmp_path / "imported.txt"
    body = f"{prelude}\nopen({str(marker)!r}, 'w').close()\n{CLASS}"
    plugin = load(tmp_path, source(body, settings=value))
    assert plugin.status == PluginStatus.OK, plugin.errors
    fields = plugin.services[0].settings.fields
    assert [(f.name, f.type, f.default, f.inferred) for f in fields] == [
        ("bed", "int", 60, True),
        ("speed", "float", 1500.0, True),
        ("name", "string", "PLA", True),
        ("wipe", "bool", True, True),
    ]
    # SPEED = 25.0 * 60 is computed: only that form needs (and gets) the import fallback.
    assert marker.exists() == ("SPEED" in prelude)


def test_typed_settings_list(tmp_path: Path) -> None:
    value = """[
        {"name": "note", "type": "info", "description": "Clean the bed first."},
        {"name": "z", "type": "float", "default": 0.2, "min": 0.05, "max": 0.5},
        {"name": "count", "type": "int", "default": 3, "min": 1},
        {"name": "pattern", "type": "choice", "choices": {"Lines": "lines", "Squares": "squares"}},
        dict(name="home", type="bool", default=True),
    ]"""
    plugin = load(tmp_path, source(settings=textwrap.dedent(value)))
    assert plugin.status == PluginStatus.OK, plugin.errors
    schema = plugin.services[0].settings
    assert [f.name for f in schema] == ["note", "z", "count", "pattern", "home"]
    z, count, pattern = schema.get("z"), schema.get("count"), schema.get("pattern")
    assert z is not None and (z.min, z.max, z.default) == (0.05, 0.5, 0.2)
    assert count is not None and (count.min, count.max) == (1, None)
    assert pattern is not None and [c.value for c in pattern.choices] == ["lines", "squares"]
    assert pattern.default == "lines"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{'pos': [1, 2]}", "__script_settings__.pos: expected a boolean, a number or a string default, got [1, 2]"),
        ("3", "__script_settings__: expected a dict of defaults or a list of typed settings, got 3"),
        (
            "[{'name': 'z', 'type': 'float', 'default': 0.9, 'max': 0.5}]",
            "__script_settings__[0].default: 0.9 is above the maximum 0.5",
        ),
        ("[{'name': 'z', 'type': 'length'}]", "__script_settings__[0].type: unknown setting type \"length\""),
        (
            "[{'name': 'a', 'type': 'int'}, {'name': 'a', 'type': 'bool'}]",
            '__script_settings__[1].name: duplicate setting name "a" (first at __script_settings__[0])',
        ),
    ],
)
def test_settings_problems(tmp_path: Path, value: str, message: str) -> None:
    error = only_error(load(tmp_path, source(settings=value)))
    assert error.startswith(f"{tmp_path / 'purge.py'}: {message}")


def test_settings_warnings_keep_the_plugin_usable(tmp_path: Path) -> None:
    plugin = load(tmp_path, source(settings="[{'name': 'z', 'type': 'float', 'unit': 'mm'}]"))
    assert plugin.status == PluginStatus.OK
    assert len(plugin.warnings) == 1 and "__script_settings__[0].unit: unknown key" in plugin.warnings[0]


_SETTING_VALUES = (
    st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.none()
    | st.lists(st.integers(), max_size=3)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(min_size=1, max_size=12), _SETTING_VALUES, max_size=8))
def test_fuzzed_settings_dicts_give_a_model_or_clear_errors(raw: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        plugin = load(Path(folder), source(settings=repr(raw)))
    bad = [k for k, v in raw.items() if not isinstance(v, bool | int | float | str)]
    if not bad:
        assert plugin.status == PluginStatus.OK, plugin.errors
        fields = plugin.services[0].settings.fields
        assert [(f.name, f.default) for f in fields] == list(raw.items())
        assert all(type(f.default) is type(raw[f.name]) for f in fields)
    else:
        assert plugin.status == PluginStatus.ERROR
        assert len(plugin.errors) == len(bad)
        for key, error in zip(bad, plugin.errors, strict=True):
            assert f"__script_settings__.{key}: expected a boolean, a number or a string default" in error


# -- syntax errors ------------------------------------------------------------------------------


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    plugin = load(tmp_path, '__script_id__ = "purge"\n\nsettings = {"a": 1,, }\n')
    assert only_error(plugin) == f"{tmp_path / 'purge.py'}:3:20: syntax error: invalid syntax"
    assert plugin.id == "purge"


def test_syntax_error_in_a_helper_is_not_a_plugin(tmp_path: Path) -> None:
    assert load_script_file(write(tmp_path, "def broken(:\n", "helper.py"), tmp_path) is None


# -- the import fallback ------------------------------------------------------------------------


def test_computed_values_are_read_by_importing_in_a_child(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    body = f"import os\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\n{CLASS}"
    text = source(body, id='"purge_" + "line"', settings="{'bed': 50 + 10}", commands="lambda s: ['M155 S2']")
    plugin = load(tmp_path, text, name="computed_probe.py")
    assert plugin.status == PluginStatus.OK, plugin.errors
    assert plugin.id == "purge_line"
    [service] = plugin.services
    assert [(f.name, f.default) for f in service.settings] == [("bed", 60)]
    assert service.script is not None and service.script.function == "Purge"
    assert service.commands is not None and service.commands.function == "__script_commands__"
    assert int(marker.read_text()) != __import__("os").getpid()
    assert "computed_probe" not in sys.modules


def test_values_mutated_after_assignment_are_read_by_importing(tmp_path: Path) -> None:
    text = source(settings="{'bed': 60}") + "__script_settings__['nozzle'] = 210\n"
    plugin = load(tmp_path, text)
    assert [f.name for f in plugin.services[0].settings] == ["bed", "nozzle"]


def test_method_call_mutation_is_read_by_importing(tmp_path: Path) -> None:
    text = '"""Mentions __script_settings__ in the docstring."""\n' + source(settings="{'bed': 60}")
    assert load(tmp_path, text).services[0].settings.defaults() == {"bed": 60}
    text += "__script_settings__.update(nozzle=210)\n"
    assert load(tmp_path, text).services[0].settings.defaults() == {"bed": 60, "nozzle": 210}


def test_conditional_assignment_is_read_by_importing(tmp_path: Path) -> None:
    text = source(title=None) + "if True:\n    __script_title__ = 'Purge (fast)'\nelse:\n    __script_title__ = 'x'\n"
    assert load(tmp_path, text).name == "Purge (fast)"


def test_imported_values_are_validated_like_literals(tmp_path: Path) -> None:
    text = source(id='"purge" + "-line"', settings="{'when': object()}")
    plugin = load(tmp_path, text)
    assert plugin.status == PluginStatus.ERROR
    path = tmp_path / "purge.py"
    assert plugin.errors[0] == f'{path}: __script_id__: "purge-line" must not contain spaces or dashes'
    assert plugin.errors[1].startswith(
        f"{path}: __script_settings__.when: expected a boolean, a number or a string default, got <object object at"
    )


def test_an_imported_class_is_checked_in_the_child(tmp_path: Path) -> None:
    lib = "class Purge:\n    def __init__(self, g):\n        pass\n    def run(self):\n        pass\n"
    write(tmp_path, lib, "purge_lib.py")
    text = source("from purge_lib import Purge\n")
    message = only_error(load(tmp_path, text))
    assert message.endswith(
        "__script_obj__: Purge.__init__(self, g) must take (self, g, logger, settings)"
    ), message
    assert "purge_lib" not in sys.modules


def test_a_file_that_hangs_on_import_is_an_error_after_the_limit(tmp_path: Path) -> None:
    text = "import time\ntime.sleep(60)\n" + source(id='"purge" + "_line"')
    path = write(tmp_path, text)
    [plugin] = load_script_files([path], tmp_path, import_timeout=1)
    assert plugin is not None
    assert only_error(plugin) == (
        f"{path}: importing the file (needed because __script_id__ is not literal) timed out after 1 s"
    )
    assert plugin.id == "purge"


def test_the_module_limit_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scriptfile, "IMPORT_TIMEOUT", 0.5)
    path = write(tmp_path, "import time\ntime.sleep(60)\n" + source(settings="{'a': 1 + 1}"))
    [plugin] = load_script_files([path], tmp_path)
    assert plugin is not None and "timed out after 0.5 s" in only_error(plugin)


@pytest.mark.parametrize(
    ("prelude", "message"),
    [
        ("x = 1 / 0\n", "failed: line 1: ZeroDivisionError: division by zero"),
        ("import no_such_module_here\n", "failed: line 1: ModuleNotFoundError: No module named 'no_such_module_here'"),
        ("import sys\nsys.exit(3)\n", "failed: the file called sys.exit(3) while being imported"),
        ("import os\nos._exit(4)\n", "failed: the process exited with status 4"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "failed: the process was killed by SIGKILL"),
    ],
)
def test_a_file_that_crashes_on_import_is_an_error(tmp_path: Path, prelude: str, message: str) -> None:
    path = write(tmp_path, prelude + source(settings="{'a': 1 + 1}"))
    [plugin] = load_script_files([path], tmp_path)
    assert plugin is not None
    why = "importing the file (needed because __script_settings__ is not literal)"
    assert only_error(plugin) == f"{path}: {why} {message}"


def test_fallback_imports_run_in_parallel(tmp_path: Path) -> None:
    # Each script waits until all of them have started: imported one after the other, the first
    # would time out; imported in parallel, all of them finish.
    count = 4
    paths = []
    for index in range(count):
        body = f"""
        import pathlib, time
        here = pathlib.Path({str(tmp_path)!r})
        (here / "started-{index}").touch()
        deadline = time.monotonic() + 20
        while len(list(here.glob("started-*"))) < {count} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(list(here.glob("started-*"))) == {count}
        """
        paths.append(write(tmp_path, textwrap.dedent(body) + source(id=f'"s{index}" + ""'), f"s{index}.py"))
    plugins = load_script_files(paths, tmp_path, import_timeout=25)
    assert [p.id if p else None for p in plugins] == [f"s{i}" for i in range(count)]
    assert all(p is not None and p.status == PluginStatus.OK for p in plugins), [p and p.errors for p in plugins]


def test_script_prints_do_not_corrupt_the_report(tmp_path: Path) -> None:
    text = "print('{not json')\nimport sys\nsys.stdout.write('}}}')\n" + source(settings="{'a': 2 * 2}")
    plugin = load(tmp_path, text)
    assert plugin.status == PluginStatus.OK, plugin.errors
    assert plugin.services[0].settings.defaults() == {"a": 4}


# -- the shipped example scripts ----------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


@pytest.mark.parametrize("name", ["purge_line", "nozzle_height_test"])
def test_shipped_example_scripts_load_cleanly_and_run(name: str) -> None:
    import importlib.util
    import io
    import logging

    from mecode import G

    path = EXAMPLES / f"{name}.py"
    plugin = load_script_file(path, EXAMPLES)
    assert plugin is not None and plugin.status == PluginStatus.OK, plugin and plugin.errors
    assert plugin.id == name and plugin.warnings == [] and plugin.description
    [service] = plugin.services
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    g = G(outfile=out, print_lines=False, setup=False)
    script = getattr(module, service.script.function if service.script else "")
    result = script(g, logging.getLogger(name), service.settings.defaults()).run()
    gcode = out.getvalue()
    assert "M109 S210" in gcode and "G28" in gcode and " E" in gcode
    if name == "purge_line":
        assert result == (True, {"x_start": 8.5})
        assert service.commands is not None
        assert getattr(module, service.commands.function)(service.settings.defaults()) == ["M155 S2"]
    else:
        assert result["success"] is True and "pad 5: +0.100" in result["success_message"]


def test_a_mistyped_magic_variable_is_a_warning(tmp_path: Path) -> None:
    plugin = load(tmp_path, source() + '\n__scirpt_settings__ = {"x": 1}\n__version__ = "1.0"\n__all__ = []\n')
    assert plugin.status == PluginStatus.OK
    assert plugin.warnings == [
        f"{tmp_path / 'purge.py'}: __scirpt_settings__: not a script variable; did you mean __script_settings__? (ignored)"
    ]
