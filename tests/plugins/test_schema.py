"""The JSON Schema of plugin.json and load_manifest must not drift.

A manifest is *clean* for the loader when it loads with no error and no warning; the schema
describes exactly the clean manifests, except for what a schema cannot see (files on disk,
names inside modules, min <= max, a default among the choices or within bounds, unique names).
Cases of that kind are marked BEYOND: the schema accepts them and the loader does not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scriptdeck.plugins.manifest import PLUGIN_KEYS, SCRIPT_KEYS, SERVICE_KEYS, SERVICE_TYPES, load_manifest
from scriptdeck.plugins.schema import manifest_json_schema
from scriptdeck.settings import fields

SCHEMA = manifest_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
EXAMPLES = Path(__file__).parents[2] / "examples" / "plugins"

VALID, INVALID, BEYOND = "valid", "invalid", "beyond the schema"

ACTION: dict[str, Any] = {"type": "action", "label": "Go", "script": {"module": "hello", "function": "main"}}
FORMAT: dict[str, Any] = {
    "type": "format",
    "extensions": ["plt"],
    "open": {"module": "fmt", "function": "read"},
    "save": {"module": "fmt", "function": "write"},
}
AUTO: dict[str, Any] = {
    "type": "automation",
    "title": "Purge",
    "script": {"module": "auto", "function": "Purge"},
    "commands": {"module": "auto", "function": "on_connect"},
}


def plugin(*services: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"engine": "python", "services": list(services) or [ACTION], **top}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a service with keys changed; a value of ... removes the key."""
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not ...}


def settings_(*declared: Any) -> dict[str, Any]:
    return plugin(with_(ACTION, script={"module": "hello", "function": "main", "settings": list(declared)}))


ALL_TYPES = [
    {"name": "about", "type": "info", "description": "Read me", "default": [1, 2]},
    {"name": "on", "type": "bool", "default": True},
    {"name": "n", "type": "int", "default": 2.0, "min": 0, "max": 10},
    {"name": "x", "type": "float", "default": 1, "min": -1.5},
    {"name": "s", "type": "string", "default": "", "label": None},
    {"name": "c1", "type": "choice", "choices": ["a", 1, 2.5, True], "default": 2.5},
    {"name": "c2", "type": "choice", "choices": {"Alpha": "a", "One": 1}},
    {"name": "col", "type": "color", "default": "#A0b0C0"},
    {"name": "i2", "type": "int", "choices": None},
    {"name": "s2", "type": "string", "min": None, "max": None},
]

CASES: list[tuple[str, Any, str]] = [
    # -- clean manifests
    ("minimal action", plugin(), VALID),
    ("every top-level key", plugin(name="N", description="D", version=3, author="A", icon="icon.svg"), VALID),
    ("null optional keys", plugin(name=None, version=None, icon=None, description=None), VALID),
    ("version 2.0 reads as 2", plugin(version=2.0), VALID),
    ("format open only, slug, auto_open", plugin(with_(FORMAT, save=..., slug="hp-gl", auto_open=False)), VALID),
    ("format save only, open null", plugin(with_(FORMAT, open=None)), VALID),
    ("automation with commands", plugin(AUTO), VALID),
    ("automation without commands", plugin(with_(AUTO, commands=None, title=..., label="L")), VALID),
    ("every setting type", settings_(*ALL_TYPES), VALID),
    ("theme icons", plugin(with_(ACTION, icon="theme:document-save"), icon="theme:go-up.2"), VALID),
    ("explicit ids", plugin(with_(ACTION, id="one"), with_(ACTION, id="two_2.b+c")), VALID),
    ("empty label", plugin(with_(ACTION, label="")), VALID),
    ("three kinds together", plugin(ACTION, FORMAT, AUTO), VALID),
    # -- refused by both
    ("top level array", [ACTION], INVALID),
    ("missing engine", {"services": [ACTION]}, INVALID),
    ("missing services", {"engine": "python"}, INVALID),
    ("unknown engine", plugin(engine="lua"), INVALID),
    ("engine null", plugin(engine=None), INVALID),
    ("services empty", plugin(services=[]), INVALID),
    ("services object", plugin(services={"a": ACTION}), INVALID),
    ("unknown top-level key", plugin(colour="red"), INVALID),
    ("version 1.5", plugin(version=1.5), INVALID),
    ("version string", plugin(version="1"), INVALID),
    ("version boolean", plugin(version=True), INVALID),
    ("name number", plugin(name=3), INVALID),
    ("service number", plugin(services=[3]), INVALID),
    ("unknown service type", plugin(with_(ACTION, type="menu")), INVALID),
    ("missing service type", plugin(with_(ACTION, type=...)), INVALID),
    ("one good, one bad service", plugin(ACTION, with_(ACTION, type="menu")), INVALID),
    ("action without script", plugin(with_(ACTION, script=...)), INVALID),
    ("script as string", plugin(with_(ACTION, script="hello.main")), INVALID),
    ("module with a path", plugin(with_(ACTION, script={"module": "../hello", "function": "main"})), INVALID),
    ("module dotted", plugin(with_(ACTION, script={"module": "a.b", "function": "main"})), INVALID),
    ("module trailing newline", plugin(with_(ACTION, script={"module": "hello\n", "function": "main"})), INVALID),
    ("function not an identifier", plugin(with_(ACTION, script={"module": "hello", "function": "main()"})), INVALID),
    ("function missing", plugin(with_(ACTION, script={"module": "hello"})), INVALID),
    ("unknown script key", plugin(with_(ACTION, script={"module": "hello", "function": "main", "x": 1})), INVALID),
    ("unknown service key", plugin(with_(ACTION, lable="x")), INVALID),
    ("auto_open on an action", plugin(with_(ACTION, auto_open=True)), INVALID),
    ("label number", plugin(with_(ACTION, label=1)), INVALID),
    ("format without extensions", plugin(with_(FORMAT, extensions=...)), INVALID),
    ("format extensions empty", plugin(with_(FORMAT, extensions=[])), INVALID),
    ("format extension with a dot", plugin(with_(FORMAT, extensions=[".plt"])), INVALID),
    ("format extension number", plugin(with_(FORMAT, extensions=[7])), INVALID),
    ("format extension with a space", plugin(with_(FORMAT, extensions=["a b"])), INVALID),
    ("format neither open nor save", plugin(with_(FORMAT, open=..., save=...)), INVALID),
    ("format open and save null", plugin(with_(FORMAT, open=None, save=None)), INVALID),
    ("auto_open a string", plugin(with_(FORMAT, auto_open="yes")), INVALID),
    ("slug with a slash", plugin(with_(FORMAT, slug="a/b")), INVALID),
    ("empty id", plugin(with_(ACTION, id="")), INVALID),
    ("id starting with a dash", plugin(with_(ACTION, id="-x")), INVALID),
    ("commands with settings", plugin(with_(AUTO, commands={"module": "auto", "function": "on_connect", "settings": []})), INVALID),
    ("automation class not an identifier", plugin(with_(AUTO, script={"module": "auto", "function": "a-b"})), INVALID),
    ("settings as an object", plugin(with_(ACTION, script={"module": "hello", "function": "main", "settings": {"a": 1}})), INVALID),
    ("setting not an object", settings_("speed"), INVALID),
    ("setting unknown type", settings_({"name": "a", "type": "number"}), INVALID),
    ("setting without name", settings_({"type": "int"}), INVALID),
    ("setting blank name", settings_({"name": "  ", "type": "int"}), INVALID),
    ("setting without type", settings_({"name": "a"}), INVALID),
    ("setting unknown key", settings_({"name": "a", "type": "int", "step": 1}), INVALID),
    ("int default string", settings_({"name": "a", "type": "int", "default": "5"}), INVALID),
    ("int default fraction", settings_({"name": "a", "type": "int", "default": 1.5}), INVALID),
    ("bool default number", settings_({"name": "a", "type": "bool", "default": 1}), INVALID),
    ("float default boolean", settings_({"name": "a", "type": "float", "default": True}), INVALID),
    ("string default number", settings_({"name": "a", "type": "string", "default": 5}), INVALID),
    ("color default name", settings_({"name": "a", "type": "color", "default": "red"}), INVALID),
    ("color default short", settings_({"name": "a", "type": "color", "default": "#fff"}), INVALID),
    ("min a string", settings_({"name": "a", "type": "int", "min": "0"}), INVALID),
    ("max a boolean", settings_({"name": "a", "type": "float", "max": False}), INVALID),
    ("label a number", settings_({"name": "a", "type": "int", "label": 3}), INVALID),
    ("choice without choices", settings_({"name": "a", "type": "choice"}), INVALID),
    ("choice choices empty array", settings_({"name": "a", "type": "choice", "choices": []}), INVALID),
    ("choice choices empty object", settings_({"name": "a", "type": "choice", "choices": {}}), INVALID),
    ("choice choices a string", settings_({"name": "a", "type": "choice", "choices": "ab"}), INVALID),
    ("choice item null", settings_({"name": "a", "type": "choice", "choices": ["x", None]}), INVALID),
    ("choice object value list", settings_({"name": "a", "type": "choice", "choices": {"x": [1]}}), INVALID),
    ("choices on an int", settings_({"name": "a", "type": "int", "choices": [1, 2]}), INVALID),
    ("choices on a bool, any shape", settings_({"name": "a", "type": "bool", "choices": "ab"}), INVALID),
    ("min on a string", settings_({"name": "a", "type": "string", "min": 0}), INVALID),
    ("max on a color", settings_({"name": "a", "type": "color", "max": 1}), INVALID),
    ("min on a choice", settings_({"name": "a", "type": "choice", "choices": [1], "min": 0}), INVALID),
    ("max on info, not a number", settings_({"name": "a", "type": "info", "max": "ten"}), INVALID),
    ("theme icon upper case", plugin(icon="theme:Document-Save"), INVALID),
    ("theme icon with a space", plugin(with_(ACTION, icon="theme:document save")), INVALID),
    ("theme icon empty", plugin(icon="theme:"), INVALID),
    ("icon empty", plugin(icon=""), INVALID),
    ("icon blank", plugin(icon="   "), INVALID),
    ("icon number", plugin(icon=1), INVALID),
    ("icon with NUL", plugin(icon="a\u0000.svg"), INVALID),
    # -- accepted by the schema, refused by the loader (files, modules, cross-field rules)
    ("function not defined", plugin(with_(ACTION, script={"module": "hello", "function": "mian"})), BEYOND),
    ("module file missing", plugin(with_(ACTION, script={"module": "nope", "function": "main"})), BEYOND),
    ("automation names a function", plugin(with_(AUTO, script={"module": "hello", "function": "main"})), BEYOND),
    ("min above max", settings_({"name": "a", "type": "int", "min": 5, "max": 1}), BEYOND),
    ("default above max", settings_({"name": "a", "type": "int", "default": 5, "max": 1}), BEYOND),
    ("choice default not a choice", settings_({"name": "a", "type": "choice", "choices": [1], "default": 2}), BEYOND),
    ("duplicate setting names", settings_({"name": "a", "type": "int"}, {"name": "a", "type": "bool"}), BEYOND),
    ("duplicate explicit ids", plugin(with_(ACTION, id="x"), with_(ACTION, id="x")), BEYOND),
    ("icon file missing", plugin(icon="gone.svg"), BEYOND),
    ("icon escapes with ..", plugin(icon="../outside.svg"), BEYOND),
    ("icon absolute path", plugin(icon="/etc/hostname"), BEYOND),
]

FILES = {"icon.svg": "<svg/>"}


def loader_clean(folders: Any, data: Any) -> tuple[bool, list[str]]:
    loaded = folders.load(json.dumps(data), FILES)
    problems = loaded.errors + loaded.warnings
    return not problems, problems


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_names_the_same_keys_as_the_loader() -> None:
    defs = SCHEMA["$defs"]
    assert tuple(SCHEMA["properties"]) == PLUGIN_KEYS
    assert tuple(defs["service"]["properties"]["type"]["enum"]) == SERVICE_TYPES
    for kind in SERVICE_TYPES:
        assert set(defs[kind]["properties"]) == set(SERVICE_KEYS[kind]), kind
    assert tuple(defs["script"]["properties"]) == SCRIPT_KEYS
    assert tuple(defs["setting"]["properties"]) == fields._KNOWN_KEYS
    assert defs["setting"]["properties"]["type"]["enum"] == list(fields.SETTING_TYPES)


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_schema_and_loader_agree(folders: Any, name: str, data: Any, expected: str) -> None:
    schema_valid = VALIDATOR.is_valid(data)
    clean, problems = loader_clean(folders, data)
    if expected == BEYOND:
        assert schema_valid, list(VALIDATOR.iter_errors(data))
        assert not clean, "the loader should refuse this"
    else:
        assert schema_valid == (expected == VALID), [e.message for e in VALIDATOR.iter_errors(data)]
        assert clean == (expected == VALID), problems


def test_duplicate_keys_are_beyond_the_schema(folders: Any) -> None:
    """A schema sees the parsed value, where a repeated key is already gone; the loader warns."""
    text = json.dumps(plugin(with_(ACTION, label="A")))[:-1] + ', "engine": "python"}'
    assert VALIDATOR.is_valid(json.loads(text))
    loaded = folders.load(text, FILES)
    assert loaded.errors == [] and [w.split(": ", 2)[1:] for w in loaded.warnings] == [
        ["engine", 'duplicate key "engine": the last value "python" is used, the earlier "python" is ignored '
         "(a key must appear only once in an object)"]
    ]


@pytest.mark.parametrize("folder", sorted(p.parent for p in EXAMPLES.glob("*/plugin.json")), ids=lambda p: p.name)
def test_shipped_examples_are_valid_for_both(folder: Path) -> None:
    data = json.loads((folder / "plugin.json").read_text(encoding="utf-8"))
    assert VALIDATOR.is_valid(data), [e.message for e in VALIDATOR.iter_errors(data)]
    loaded = load_manifest(folder, folder.parent)
    assert loaded.errors == loaded.warnings == []


# -- generated cases: agreement on random near-manifests -------------------------------------------

# What a schema cannot see; any other loader problem must be visible to the schema too.
BEYOND_MESSAGES = (
    "not found",
    "is not defined at the top level",
    "is a function; an automation script names a class",
    "has no __init__",
    "has no run(self)",
    "cannot be called as",
    "is greater than max",
    "is not one of the choices",
    "is above the maximum",
    "is below the minimum",
    "duplicate setting name",
    "duplicate service id",
    "outside the plugin folder",
    "skipped, see the warnings)",
)

scalars = st.none() | st.booleans() | st.integers(-3, 300) | st.sampled_from([1.5, 2.0, -0.5]) | st.sampled_from(
    ["", " ", "main", "hello", "auto", "fmt", "read", "write", "Purge", "on_connect", "mian", "python", "plt",
     ".plt", "a b", "theme:go-up", "theme:Go", "icon.svg", "gone.svg", "#ff0000", "red", "x", "int", "choice",
     "action", "format", "automation"]
)
values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.sampled_from(["a", "name", "type"]), scalars, max_size=2)
KEYS = sorted({*PLUGIN_KEYS, *SCRIPT_KEYS, *fields._KNOWN_KEYS, *(k for ks in SERVICE_KEYS.values() for k in ks), "junk"})
TEMPLATES = [ACTION, FORMAT, AUTO, with_(FORMAT, save=..., slug="s"), settings_(*ALL_TYPES)["services"][0]]


def containers(value: Any) -> list[dict[str, Any] | list[Any]]:
    """Every object and array inside a JSON value, the value itself first."""
    found: list[dict[str, Any] | list[Any]] = []
    if isinstance(value, dict | list):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            found += containers(child)
    return found


@st.composite
def near_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A clean manifest (from templates) with a few random edits: most results are invalid, many are not."""
    data = json.loads(json.dumps(plugin(*draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3)))))
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(containers(data)))
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target)) | st.sampled_from(KEYS)) if target else draw(st.sampled_from(KEYS))
            if draw(st.booleans()) and key in target:
                del target[key]
            else:
                target[key] = draw(values)
        elif target:
            target[draw(st.integers(0, len(target) - 1))] = draw(values)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=near_manifests())
def test_generated_manifests_agree(folders: Any, data: dict[str, Any]) -> None:
    schema_valid = VALIDATOR.is_valid(data)
    clean, problems = loader_clean(folders, data)
    if clean:
        assert schema_valid, [e.message for e in VALIDATOR.iter_errors(data)]
    if schema_valid:
        unexplained = [p for p in problems if not any(m in p for m in BEYOND_MESSAGES)]
        assert not unexplained
