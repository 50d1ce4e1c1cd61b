"""The JSON Schema (draft 2020-12) of plugin.json, printed by `scriptdeck schema` for editors.

The schema describes a *clean* manifest: one that `load_manifest` accepts with no error and no
warning. Unknown keys, keys with no effect on a setting's type (`min`/`max` outside int and
float, `choices` outside choice) and extensions written with a dot are therefore refused here,
though the loader only warns about them. What a schema cannot see (files on disk, names inside
Python modules, min <= max, a default among the choices, unique names, a key repeated in one
object) is left to `scriptdeck check`.
tests/plugins/test_schema.py proves that the two agree on every example they share.
"""

from __future__ import annotations

from typing import Any

from scriptdeck.plugins.manifest import KNOWN_ENGINES, SERVICE_TYPES
from scriptdeck.plugins.patterns import IDENTIFIER_PATTERN, THEME_NAME_PATTERN, THEME_PREFIX, TOKEN_PATTERN
from scriptdeck.settings.fields import BOUNDED_TYPES, SETTING_TYPES

__all__ = ["SCHEMA_ID", "manifest_json_schema"]

SCHEMA_ID = "urn:scriptdeck:schema:plugin.json"  # an identifier, not a URL: nothing is served there
_COLOR_PATTERN = "^#[0-9a-fA-F]{6}$"


def _optional(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional key: the loader reads `null` as absent, so the schema allows it."""
    return {"description": description, "anyOf": [{"type": "null"}, schema]}


def _text(description: str) -> dict[str, Any]:
    return _optional({"type": "string"}, description)


def _token(description: str) -> dict[str, Any]:
    return _optional({"type": "string", "pattern": TOKEN_PATTERN}, description)


def _present(key: str) -> dict[str, Any]:
    """`key` is there and not null."""
    return {"required": [key], "properties": {key: {"not": {"type": "null"}}}}


def _when(key: str, value: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"required": [key], "properties": {key: {"const": value}}}, "then": then}


def _setting() -> dict[str, Any]:
    scalar = {"type": ["string", "number", "boolean"]}
    default_by_type: dict[str, dict[str, Any]] = {
        "bool": {"type": "boolean"},
        "int": {"type": "integer"},
        "float": {"type": "number"},
        "string": {"type": "string"},
        "color": {"type": "string", "pattern": _COLOR_PATTERN},
    }
    choices = {
        "anyOf": [
            {"type": "array", "minItems": 1, "items": scalar},
            {"type": "object", "minProperties": 1, "additionalProperties": scalar},
        ]
    }
    rules = []
    for kind in SETTING_TYPES:
        then: dict[str, Any] = {"properties": {}}
        if kind in default_by_type:
            then["properties"]["default"] = {"anyOf": [{"type": "null"}, default_by_type[kind]]}
        # A key with no effect on the type: the loader warns about it unless it is null (absent).
        if kind not in BOUNDED_TYPES:
            then["properties"]["min"] = {"type": "null"}
            then["properties"]["max"] = {"type": "null"}
        if kind == "choice":
            then["required"] = ["choices"]
            then["properties"]["choices"] = choices
        else:
            then["properties"]["choices"] = {"type": "null"}
        rules.append(_when("type", kind, then))
    return {
        "type": "object",
        "description": "One typed setting, shown in the form before the script runs.",
        "required": ["name", "type"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": r"\S", "description": "Key of the value in the settings dict."},
            "type": {"enum": list(SETTING_TYPES), "description": "info shows its description only."},
            "label": _text("Form label (defaults to the name)."),
            "description": _text("Extra help text."),
            "default": {"description": "Default value, of the setting's type and within min/max."},
            "min": _optional({"type": "number"}, "Minimum (int and float); absent means unbounded."),
            "max": _optional({"type": "number"}, "Maximum (int and float); absent means unbounded."),
            "choices": {
                "description": "For choice: an array of values, or an object label -> value (order is kept)."
            },
        },
        "allOf": rules,
    }


def _script(function_description: str, *, settings: bool = True) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "module": {
            "type": "string",
            "pattern": IDENTIFIER_PATTERN,
            "description": "Python module in the plugin folder: <module>.py or <module>/__init__.py.",
        },
        "function": {"type": "string", "pattern": IDENTIFIER_PATTERN, "description": function_description},
    }
    if settings:
        properties["settings"] = _optional(
            {"type": "array", "items": {"$ref": "#/$defs/setting"}}, "Settings shown before the script runs."
        )
    return {
        "type": "object",
        "required": ["module", "function"],
        "additionalProperties": False,
        "properties": properties,
    }


def _service(kind: str, required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    common = {
        "type": {"const": kind},
        "id": _token("Local service id; the full id is PluginId/<id>."),
        "icon": {"$ref": "#/$defs/icon"},
    }
    return {
        "type": "object",
        "required": ["type", *required],
        "additionalProperties": False,
        "properties": {**common, **properties},
        **extra,
    }


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of plugin.json (a fresh dict each call; safe to modify)."""
    action = _service(
        "action",
        ["script"],
        {
            "label": _text("Menu entry text."),
            "tooltip": _text("Menu entry tooltip."),
            "script": {"$ref": "#/$defs/script"},
        },
        description="A menu action: function(window, document, settings).",
    )
    fmt = _service(
        "format",
        ["extensions"],
        {
            "name": _text("Name shown in the open/save dialogs."),
            "extensions": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "pattern": TOKEN_PATTERN},
                "description": 'File extensions, without the dot ("gcode", not ".gcode").',
            },
            "slug": _token("Format identifier; defaults to the first extension."),
            "open": _optional({"$ref": "#/$defs/script"}, "Reads a file into the document."),
            "save": _optional({"$ref": "#/$defs/script"}, "Writes the document to a file."),
            "auto_open": _optional({"type": "boolean"}, "false: the plugin opens the file itself."),
        },
        description="A file format: open/save(window, document, file, filename, import_export, settings).",
        anyOf=[_present("open"), _present("save")],
    )
    automation = _service(
        "automation",
        ["script"],
        {
            "title": _text("Button text (defaults to label, then the class name)."),
            "label": _text("Used when there is no title."),
            "tooltip": _text("Longer help."),
            "script": {"$ref": "#/$defs/automation_script"},
            "commands": _optional(
                _script("Function(settings) returning the G-code sent on connect.", settings=False),
                "G-code sent when the machine connects.",
            ),
        },
        description="An automation script: Class(g, logger, settings).run() drives the machine.",
    )
    services = {"action": action, "format": fmt, "automation": automation}  # one per SERVICE_TYPES
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "scriptdeck plugin.json",
        "description": "A scriptdeck plugin folder's manifest (the seed-004 plugin contract).",
        "type": "object",
        "required": ["engine", "services"],
        "additionalProperties": False,
        "properties": {
            "name": _text("Name shown in the plugin list (defaults to the folder name)."),
            "description": _text("What the plugin does."),
            "version": _optional({"type": "integer"}, "Integer; the highest installed version wins (absent = 0)."),
            "engine": {"enum": list(KNOWN_ENGINES), "description": "Script engine."},
            "author": _text("Who wrote it."),
            "icon": {"$ref": "#/$defs/icon"},
            "services": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/service"}},
        },
        "$defs": {
            "icon": {
                "description": f'A file in the plugin folder, or "{THEME_PREFIX}NAME" (a freedesktop icon name).',
                "anyOf": [
                    {"type": "null"},
                    {"type": "string", "pattern": "^" + THEME_PREFIX + THEME_NAME_PATTERN.removeprefix("^")},
                    {
                        "type": "string",
                        "pattern": r"\S",
                        "not": {"anyOf": [{"pattern": "^" + THEME_PREFIX}, {"pattern": r"\x00"}]},
                    },
                ],
            },
            "service": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": list(SERVICE_TYPES)}},
                "allOf": [_when("type", kind, {"$ref": f"#/$defs/{kind}"}) for kind in SERVICE_TYPES],
            },
            **services,
            "script": _script("Function in the module to call."),
            "automation_script": _script("Class in the module: Class(g, logger, settings) with run()."),
            "setting": _setting(),
        },
    }
