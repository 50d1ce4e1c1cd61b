"""Typed settings: one implementation of every setting type, used by discovery, the CLI and the web.

A `SettingField` is parsed once from its declaration (a seed-004 settings object, or a
dict-style default of a seed-000 script) and then coerces and validates every value that
reaches it: stored values, `--set k=v` text, JSON from a web form. Every message names the
setting, the value and the rule.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scriptdeck.errors import SettingsError

SETTING_TYPES: tuple[str, ...] = ("info", "bool", "int", "float", "string", "choice", "color")
BOUNDED_TYPES: tuple[str, ...] = ("int", "float")  # the types `min`/`max` apply to
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# Text forms of numbers: ASCII only, so "1_000", "١٢" or " 1e3 " with odd digits do not sneak through int()/float().
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_KNOWN_KEYS = ("name", "type", "label", "description", "default", "min", "max", "choices")


def describe(value: object) -> str:
    """A value as it appears in messages: JSON when possible, so strings keep their quotes."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    except RecursionError:  # repr() would recurse just as deep; name the kind of value instead
        text = f"({_type_name(value)} nested too deeply to show)"
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful) in a declaration: where, and what."""

    path: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def render(self, file: str = "") -> str:
        where = ": ".join(p for p in (file, self.path) if p)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class Choice:
    label: str
    value: Any


@dataclass(frozen=True)
class SettingField:
    """One typed setting. `min`/`max` of None mean unbounded."""

    name: str
    type: str
    label: str = ""
    description: str = ""
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Choice, ...] = ()
    inferred: bool = False  # declared as a dict-style default of a seed-000 script

    @property
    def has_value(self) -> bool:
        """`info` settings only display their description; they carry no value."""
        return self.type != "info"

    def coerce(self, value: object, *, where: str = "") -> Any:
        """Turn a JSON value or a text (CLI, form) into this setting's type, or raise SettingsError."""
        name = where or self.name
        if self.type == "info":
            raise SettingsError(f"{name}: an info setting takes no value, got {describe(value)}")
        if isinstance(value, str):
            value = self._from_text(value, name)
        return self.validate(value, where=where)

    def _from_text(self, text: str, name: str) -> object:
        stripped = text.strip()
        if self.type == "bool":
            if stripped.lower() in _TRUE:
                return True
            if stripped.lower() in _FALSE:
                return False
            raise SettingsError(f"{name}: expected a boolean (true/false), got {describe(text)}")
        if self.type == "int":
            try:
                if not _INT_TEXT.fullmatch(stripped):
                    raise ValueError(stripped)
                return int(stripped, 10)
            except ValueError:  # also Python's limit on the digits of an integer
                raise SettingsError(f"{name}: expected an integer, got {describe(text)}") from None
        if self.type == "float":
            if not _FLOAT_TEXT.fullmatch(stripped):
                raise SettingsError(f"{name}: expected a number, got {describe(text)}")
            return float(stripped)
        if self.type == "choice":
            for choice in self.choices:
                if isinstance(choice.value, str):
                    if choice.value == text:
                        return choice.value
                elif str(choice.value) == stripped or describe(choice.value) == stripped:
                    return choice.value
            for choice in self.choices:
                if choice.label == text:
                    return choice.value
            return text
        return text

    def validate(self, value: object, *, where: str = "") -> Any:
        """Check an already-typed value; returns it normalised (ints accepted as floats)."""
        name = where or self.name
        kind = self.type
        if kind == "bool":
            if not isinstance(value, bool):
                raise SettingsError(f"{name}: expected a boolean, got {describe(value)}")
            return value
        if kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise SettingsError(f"{name}: expected an integer, got {describe(value)}")
            self._check_range(value, name)
            return value
        if kind == "float":
            if not _is_number(value):
                raise SettingsError(f"{name}: expected a number, got {describe(value)}")
            try:
                number = float(value)  # type: ignore[arg-type]
            except OverflowError:  # an integer beyond the range of a float
                number = math.inf
            if not math.isfinite(number):
                raise SettingsError(f"{name}: expected a finite number, got {describe(value)}")
            self._check_range(number, name)
            return number
        if kind == "string":
            if not isinstance(value, str):
                raise SettingsError(f"{name}: expected a string, got {describe(value)}")
            return value
        if kind == "color":
            if not isinstance(value, str) or not _COLOR.match(value):
                raise SettingsError(f"{name}: expected a color \"#rrggbb\", got {describe(value)}")
            return value.lower()
        if kind == "choice":
            for choice in self.choices:
                if choice.value == value and type(choice.value) is type(value):
                    return value
            allowed = ", ".join(describe(c.value) for c in self.choices)
            raise SettingsError(f"{name}: {describe(value)} is not one of the choices ({allowed})")
        raise SettingsError(f"{name}: an info setting takes no value, got {describe(value)}")

    def _check_range(self, value: float, name: str) -> None:
        if self.min is not None and value < self.min:
            raise SettingsError(f"{name}: {describe(value)} is below the minimum {describe(self.min)}")
        if self.max is not None and value > self.max:
            raise SettingsError(f"{name}: {describe(value)} is above the maximum {describe(self.max)}")

    def to_json(self) -> dict[str, Any]:
        """The field as the JSON schema clients (web forms, `list --json`) see it."""
        data: dict[str, Any] = {"name": self.name, "type": self.type, "label": self.label or self.name}
        if self.description:
            data["description"] = self.description
        if self.has_value:
            data["default"] = self.default
        if self.type in ("int", "float"):
            data["min"] = self.min
            data["max"] = self.max
        if self.type == "choice":
            data["choices"] = [{"label": c.label, "value": c.value} for c in self.choices]
        if self.inferred:
            data["inferred"] = True
        return data


_ZERO: dict[str, Any] = {"bool": False, "int": 0, "float": 0.0, "string": "", "color": "#000000"}


@dataclass(frozen=True)
class SettingsSchema:
    """The ordered settings of one script (declaration order is the form's order)."""

    fields: tuple[SettingField, ...] = ()

    def __iter__(self) -> Any:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def get(self, name: str) -> SettingField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields if f.has_value}

    def parse_assignments(self, assignments: Iterable[str]) -> dict[str, Any]:
        """Parse CLI `k=v` assignments into typed values (raises SettingsError)."""
        values: dict[str, Any] = {}
        for item in assignments:
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise SettingsError(f"--set {describe(item)}: expected NAME=VALUE")
            values[key] = self._field_for(key).coerce(text, where=key)
        return values

    def _field_for(self, key: str) -> SettingField:
        found = self.get(key)
        if found is None or not found.has_value:
            known = ", ".join(f.name for f in self.fields if f.has_value) or "none"
            raise SettingsError(f"{key}: no such setting (known: {known})")
        return found

    def coerce_values(self, values: Mapping[str, object]) -> dict[str, Any]:
        """Coerce a mapping of values (JSON or text) to their types; unknown names are an error."""
        return {key: self._field_for(key).coerce(value, where=key) for key, value in values.items()}

    def resolve(
        self, stored: Mapping[str, object] | None = None, overrides: Mapping[str, object] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """The values a run receives: stored over defaults, then per-run overrides.

        A stored value that no longer fits (a plugin update changed the schema) falls back to
        the default and yields a warning; an override that does not fit raises SettingsError.
        Stored keys outside the schema (values a script persisted) are passed through.
        """
        values = self.defaults()
        warnings: list[str] = []
        for key, value in (stored or {}).items():
            f = self.get(key)
            if f is None:
                values[key] = value
                continue
            if not f.has_value:
                continue
            try:
                values[key] = f.coerce(value, where=key)
            except SettingsError as exc:
                warnings.append(f"stored value ignored, using the default {describe(f.default)}: {exc}")
        for key, value in (overrides or {}).items():
            values[key] = self._field_for(key).coerce(value, where=key)
        return values, warnings

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.fields]


@dataclass
class _FieldParse:
    raw: Mapping[str, Any]
    path: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.path}.{key}" if key else self.path, message))

    def warn(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.path}.{key}" if key else self.path, message, "warning"))

    def text(self, key: str) -> str:
        value = self.raw.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error(key, f"expected a string, got {describe(value)}")
            return ""
        return value

    def bound(self, key: str) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not _is_number(value):
            self.error(key, f"expected a number, got {describe(value)}")
            return None
        try:
            finite = math.isfinite(float(value))
        except OverflowError:  # an integer with hundreds of digits
            finite = False
        if not finite:
            self.error(key, f"expected a finite number, got {describe(value)}")
            return None
        return value

    def no_effect(self, key: str, kind: str, name: object, rule: str) -> None:
        """`key` is set on a type it means nothing to: warn (like an unknown key) and ignore it."""
        value = self.raw.get(key)
        if value is None:  # null means absent
            return
        setting = f"setting {describe(name)}" if isinstance(name, str) else "a setting"
        self.warn(key, f"{describe(key)} has no effect on {setting} of type {describe(kind)} ({rule}); {describe(value)} ignored")


def parse_field(raw: object, path: str) -> tuple[SettingField | None, list[Problem]]:
    """Parse one seed-004 settings object found at JSON path `path`."""
    if not isinstance(raw, dict):
        return None, [Problem(path, f"expected a settings object, got {describe(raw)}")]
    p = _FieldParse(raw, path)
    name = raw.get("name")
    if name is None:
        p.error("name", "required key missing")
    elif not isinstance(name, str) or not name.strip():
        p.error("name", f"expected a non-empty string, got {describe(name)}")
        name = None
    kind = raw.get("type")
    if kind is None:
        p.error("type", "required key missing")
    elif kind not in SETTING_TYPES:
        p.error("type", f"unknown setting type {describe(kind)} (known: {', '.join(SETTING_TYPES)})")
        kind = None
    for key in raw:
        if key not in _KNOWN_KEYS:
            p.warn(key, f"unknown key {describe(key)} ignored (known: {', '.join(_KNOWN_KEYS)})")
    label, description = p.text("label"), p.text("description")
    low = high = None
    if kind is None or kind in BOUNDED_TYPES:  # an unknown type is already an error: check the bounds anyway
        low, high = p.bound("min"), p.bound("max")
    else:
        for key in ("min", "max"):
            p.no_effect(key, kind, name, "only int and float settings have bounds")
    if kind is not None and kind != "choice":
        p.no_effect("choices", kind, name, "only choice settings have choices")
    if low is not None and high is not None and low > high:
        p.error("min", f"min {describe(low)} is greater than max {describe(high)}")
        low = high = None
    choices = _parse_choices(raw.get("choices"), p) if kind == "choice" else ()
    if kind == "choice" and not choices and not any(x.severity == "error" for x in p.problems):
        p.error("choices", "a choice setting needs at least one choice")
    if any(x.severity == "error" for x in p.problems) or name is None or kind is None:
        return None, p.problems
    draft = SettingField(str(name), str(kind), label, description, None, low, high, choices)
    default = raw.get("default")
    if kind == "info":
        pass
    elif default is None:
        default = choices[0].value if kind == "choice" and choices else _ZERO[kind] if kind in _ZERO else None
        if kind in ("int", "float") and default is not None:
            default = _clamp(default, low, high)
            # An int setting with `min: 0.5` must not default to int(0.5) == 0, below its minimum.
            default = (math.ceil(default) if default == low else math.floor(default)) if kind == "int" else float(default)
    else:
        try:
            default = draft.validate(default, where="default")
        except SettingsError as exc:
            p.error("default", str(exc).removeprefix("default: "))
            return None, p.problems
    return SettingField(str(name), str(kind), label, description, default, low, high, choices), p.problems


def _clamp(value: float, low: float | None, high: float | None) -> float:
    if low is not None and value < low:
        return low
    if high is not None and value > high:
        return high
    return value


def _parse_choices(raw: object, p: _FieldParse) -> tuple[Choice, ...]:
    """`choices` as an array (label = str(value)) or an object label → value, declaration order kept."""
    if raw is None:
        return ()
    items: list[tuple[str, object]]
    if isinstance(raw, list):
        items = [(v if isinstance(v, str) else describe(v), v) for v in raw]
    elif isinstance(raw, dict):
        items = list(raw.items())
    else:
        p.error("choices", f"expected an array or an object, got {describe(raw)}")
        return ()
    out: list[Choice] = []
    for index, (label, value) in enumerate(items):
        if not isinstance(value, str | int | float | bool) or value is None:
            where = f"choices[{index}]" if isinstance(raw, list) else f"choices.{label}"
            p.error(where, f"expected a string or a number, got {describe(value)}")
            continue
        out.append(Choice(str(label), value))
    return tuple(out)


def infer_field(name: str, default: object, path: str) -> tuple[SettingField | None, list[Problem]]:
    """A setting declared as a dict-style default (seed 000): the type comes from the value."""
    if isinstance(default, bool):
        kind = "bool"
    elif isinstance(default, int):
        kind = "int"
    elif isinstance(default, float):
        kind = "float"
    elif isinstance(default, str):
        kind = "string"
    else:
        return None, [
            Problem(path, f"expected a boolean, a number or a string default, got {describe(default)}")
        ]
    return SettingField(name, kind, name, "", default, inferred=True), []


def parse_schema(raw: object, path: str) -> tuple[SettingsSchema, list[Problem]]:
    """Parse a settings declaration: a seed-004 array of objects, or a seed-000 dict of defaults.

    Invalid settings are dropped (each with its problem); names must be unique, and an invalid
    setting still holds its name, so a second setting of that name is reported too.
    """
    if raw is None:
        return SettingsSchema(), []
    problems: list[Problem] = []
    fields: list[SettingField] = []
    entries: Sequence[tuple[str, str | None, SettingField | None, list[Problem]]]
    if isinstance(raw, dict):
        entries = [(f"{path}.{k}", str(k), *infer_field(str(k), v, f"{path}.{k}")) for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = [(f"{path}[{i}]", _declared_name(item), *parse_field(item, f"{path}[{i}]")) for i, item in enumerate(raw)]
    else:
        return SettingsSchema(), [Problem(path, f"expected an array of settings, got {describe(raw)}")]
    seen: dict[str, str] = {}
    for where, name, parsed, found in entries:
        problems.extend(found)
        if name is not None:
            if name in seen:
                problems.append(Problem(f"{where}.name", f"duplicate setting name {describe(name)} (first at {seen[name]})"))
                continue
            seen[name] = where
        if parsed is not None:
            fields.append(parsed)
    return SettingsSchema(tuple(fields)), problems


def _declared_name(raw: object) -> str | None:
    """The name a settings object declares, valid or not as a whole (None: no usable name)."""
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name.strip() else None
