"""settings/fields.py: parsing declarations, coercing text and JSON, validating, resolving stored values."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scriptdeck.errors import SettingsError
from scriptdeck.settings.fields import (
    SETTING_TYPES,
    Choice,
    Problem,
    SettingField,
    SettingsSchema,
    describe,
    infer_field,
    parse_field,
    parse_schema,
)


def field(**raw: Any) -> SettingField:
    parsed, problems = parse_field(raw, "s")
    assert [p for p in problems if p.severity == "error"] == []
    assert parsed is not None
    return parsed


def errors(**raw: Any) -> list[str]:
    parsed, problems = parse_field(raw, "s")
    found = [p.render() for p in problems if p.severity == "error"]
    assert parsed is None and found
    return found


# -- describe and Problem -----------------------------------------------------------------------


def test_describe_keeps_json_quotes_and_truncates() -> None:
    assert describe("ten") == '"ten"'
    assert describe(None) == "null"
    assert describe([1, True]) == "[1, true]"
    assert describe("é") == '"é"'
    assert describe(object())[:8] == "<object "
    assert describe("x" * 200) == '"' + "x" * 76 + "..."
    nested: list[Any] = []
    for _ in range(5000):
        nested = [nested]
    assert describe(nested) == "(an array nested too deeply to show)"  # never a RecursionError


def test_problem_render() -> None:
    assert Problem("a.b", "bad").render("/x/plugin.json") == "/x/plugin.json: a.b: bad"
    assert Problem("", "bad").render("/x/plugin.json") == "/x/plugin.json: bad"
    assert Problem("a", "bad").render() == "a: bad"


# -- declarations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "zero"), [("bool", False), ("int", 0), ("float", 0.0), ("string", ""), ("color", "#000000")]
)
def test_default_when_absent(kind: str, zero: object) -> None:
    parsed = field(name="a", type=kind)
    assert parsed.default == zero and type(parsed.default) is type(zero)


def test_absent_default_respects_bounds() -> None:
    assert field(name="a", type="int", min=5).default == 5
    assert field(name="a", type="int", max=-2).default == -2
    assert field(name="a", type="int", min=0.5).default == 1  # not int(0.5) == 0, below the minimum
    assert field(name="a", type="int", max=-0.5).default == -1
    assert field(name="a", type="float", min=2.5).default == 2.5


def test_min_max_absent_means_unbounded() -> None:
    parsed = field(name="a", type="int")
    assert (parsed.min, parsed.max) == (None, None)
    assert parsed.coerce(-(10**12)) == -(10**12)
    assert parsed.coerce("999999999999") == 999999999999
    assert field(name="f", type="float").coerce(-1e300) == -1e300


def test_min_greater_than_max() -> None:
    assert errors(name="a", type="int", min=5, max=1) == ["s.min: min 5 is greater than max 1"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "a", "type": "int", "default": 11, "max": 10}, "s.default: 11 is above the maximum 10"),
        ({"name": "a", "type": "float", "default": -1, "min": 0}, "s.default: -1.0 is below the minimum 0"),
        ({"name": "a", "type": "int", "default": "3"}, 's.default: expected an integer, got "3"'),
        ({"name": "a", "type": "int", "default": 1.5}, "s.default: expected an integer, got 1.5"),
        ({"name": "a", "type": "int", "default": True}, "s.default: expected an integer, got true"),
        ({"name": "a", "type": "float", "default": "1"}, 's.default: expected a number, got "1"'),
        ({"name": "a", "type": "float", "default": 10**400}, "s.default: expected a finite number, got 1" + "0" * 76 + "..."),
        ({"name": "a", "type": "bool", "default": 0}, "s.default: expected a boolean, got 0"),
        ({"name": "a", "type": "string", "default": 5}, "s.default: expected a string, got 5"),
        ({"name": "a", "type": "color", "default": "red"}, 's.default: expected a color "#rrggbb", got "red"'),
        ({"name": "a", "type": "color", "default": "#fff"}, 's.default: expected a color "#rrggbb", got "#fff"'),
        (
            {"name": "a", "type": "choice", "choices": ["x", "y"], "default": "z"},
            's.default: "z" is not one of the choices ("x", "y")',
        ),
        ({"name": "a", "type": "choice", "choices": [1, 2], "default": "1"}, 's.default: "1" is not one of the choices (1, 2)'),
    ],
)
def test_bad_defaults(raw: dict[str, Any], message: str) -> None:
    assert errors(**raw) == [message]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "int"}, "s.name: required key missing"),
        ({"name": "", "type": "int"}, 's.name: expected a non-empty string, got ""'),
        ({"name": 3, "type": "int"}, "s.name: expected a non-empty string, got 3"),
        ({"name": "a"}, "s.type: required key missing"),
        (
            {"name": "a", "type": "number"},
            's.type: unknown setting type "number" (known: info, bool, int, float, string, choice, color)',
        ),
        ({"name": "a", "type": "int", "label": 3}, "s.label: expected a string, got 3"),
        ({"name": "a", "type": "int", "description": ["x"]}, 's.description: expected a string, got ["x"]'),
        ({"name": "a", "type": "int", "max": "ten"}, 's.max: expected a number, got "ten"'),
        ({"name": "a", "type": "int", "min": True}, "s.min: expected a number, got true"),
        ({"name": "a", "type": "float", "min": math.nan}, "s.min: expected a finite number, got NaN"),
        ({"name": "a", "type": "float", "max": 10**400}, "s.max: expected a finite number, got 1" + "0" * 76 + "..."),
        ({"name": "a", "type": "choice"}, "s.choices: a choice setting needs at least one choice"),
        ({"name": "a", "type": "choice", "choices": []}, "s.choices: a choice setting needs at least one choice"),
        ({"name": "a", "type": "choice", "choices": "ab"}, 's.choices: expected an array or an object, got "ab"'),
        ({"name": "a", "type": "choice", "choices": ["x", None]}, "s.choices[1]: expected a string or a number, got null"),
        ({"name": "a", "type": "choice", "choices": {"X": [1]}}, "s.choices.X: expected a string or a number, got [1]"),
    ],
)
def test_bad_declarations(raw: dict[str, Any], message: str) -> None:
    assert errors(**raw) == [message]


def test_not_an_object() -> None:
    assert parse_field(3, "s") == (None, [Problem("s", "expected a settings object, got 3")])


def test_unknown_key_is_a_warning() -> None:
    parsed, problems = parse_field({"name": "a", "type": "int", "step": 2}, "s")
    assert parsed is not None
    assert problems == [
        Problem(
            "s.step",
            'unknown key "step" ignored (known: name, type, label, description, default, min, max, choices)',
            "warning",
        )
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"name": "speed", "type": "string", "min": 5},
            's.min: "min" has no effect on setting "speed" of type "string" (only int and float settings have '
            "bounds); 5 ignored",
        ),
        (
            {"name": "on", "type": "bool", "max": "ten"},  # ignored, so its value is not checked either
            's.max: "max" has no effect on setting "on" of type "bool" (only int and float settings have '
            'bounds); "ten" ignored',
        ),
        (
            {"name": "c", "type": "color", "choices": ["#ff0000"]},
            's.choices: "choices" has no effect on setting "c" of type "color" (only choice settings have '
            'choices); ["#ff0000"] ignored',
        ),
        (
            {"name": "m", "type": "choice", "choices": ["a"], "min": 0},
            's.min: "min" has no effect on setting "m" of type "choice" (only int and float settings have '
            "bounds); 0 ignored",
        ),
    ],
)
def test_key_with_no_effect_on_the_type_is_a_warning(raw: dict[str, Any], message: str) -> None:
    parsed, problems = parse_field(raw, "s")
    assert parsed is not None and (parsed.min, parsed.max) == (None, None)
    assert [(p.render(), p.severity) for p in problems] == [(message, "warning")]


def test_null_keys_with_no_effect_are_absent() -> None:
    assert parse_field({"name": "s", "type": "string", "min": None, "max": None, "choices": None}, "s")[1] == []


def test_key_with_no_effect_on_a_setting_without_a_name() -> None:
    _, problems = parse_field({"type": "info", "choices": {"A": 1}}, "s")
    assert [p.render() for p in problems] == [
        "s.name: required key missing",
        's.choices: "choices" has no effect on a setting of type "info" (only choice settings have choices); '
        '{"A": 1} ignored',
    ]


def test_choices_array_and_object_keep_order() -> None:
    arr = field(name="a", type="choice", choices=["z", 3, 1.5, True])
    assert arr.choices == (Choice("z", "z"), Choice("3", 3), Choice("1.5", 1.5), Choice("true", True))
    assert arr.default == "z"
    obj = field(name="b", type="choice", choices={"Zeta": "z", "Alpha": "a"}, default="a")
    assert [c.label for c in obj.choices] == ["Zeta", "Alpha"]
    assert obj.default == "a"
    assert obj.to_json()["choices"] == [{"label": "Zeta", "value": "z"}, {"label": "Alpha", "value": "a"}]


def test_color_default_is_normalised() -> None:
    assert field(name="c", type="color", default="#AbCdEf").default == "#abcdef"


def test_info_carries_no_value() -> None:
    info = field(name="i", type="info", description="Read me")
    assert not info.has_value
    assert "default" not in info.to_json()
    with pytest.raises(SettingsError, match=r'^i: an info setting takes no value, got "x"$'):
        info.coerce("x")


def test_to_json_shows_unbounded_as_null() -> None:
    assert field(name="n", type="int", label="N").to_json() == {
        "name": "n", "type": "int", "label": "N", "default": 0, "min": None, "max": None,
    }


# -- coercion from text (CLI --set, web forms) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("bool", "true", True), ("bool", " Yes ", True), ("bool", "on", True), ("bool", "1", True),
        ("bool", "FALSE", False), ("bool", "no", False), ("bool", "off", False), ("bool", "0", False),
        ("int", "42", 42), ("int", " -3 ", -3), ("int", "+7", 7),
        ("float", "1.5", 1.5), ("float", "1e3", 1000.0), ("float", ".5", 0.5), ("float", "-2", -2.0), ("float", "3.", 3.0),
        ("string", " keep spaces ", " keep spaces "), ("string", "", ""),
        ("color", "#AABBCC", "#aabbcc"),
    ],
)
def test_coerce_text(kind: str, text: str, value: object) -> None:
    result = field(name="v", type=kind).coerce(text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("bool", "maybe", 'v: expected a boolean (true/false), got "maybe"'),
        ("int", "1.0", 'v: expected an integer, got "1.0"'),
        ("int", "1_000", 'v: expected an integer, got "1_000"'),
        ("int", "٣", 'v: expected an integer, got "٣"'),
        ("int", "", 'v: expected an integer, got ""'),
        ("int", "9" * 5000, "v: expected an integer, got \"" + "9" * 76 + "..."),
        ("float", "nan", 'v: expected a number, got "nan"'),
        ("float", "inf", 'v: expected a number, got "inf"'),
        ("float", "1_0", 'v: expected a number, got "1_0"'),
        ("float", "1e999", "v: expected a finite number, got Infinity"),
        ("float", "ten", 'v: expected a number, got "ten"'),
        ("color", "red", 'v: expected a color "#rrggbb", got "red"'),
    ],
)
def test_coerce_bad_text(kind: str, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        field(name="v", type=kind).coerce(text)
    assert str(info.value) == message


def test_coerce_text_respects_bounds() -> None:
    speed = field(name="speed", type="int", min=1, max=10, default=5)
    with pytest.raises(SettingsError) as info:
        speed.coerce("11")
    assert str(info.value) == "speed: 11 is above the maximum 10"
    with pytest.raises(SettingsError) as info:
        speed.coerce("0")
    assert str(info.value) == "speed: 0 is below the minimum 1"


def test_coerce_choice_by_value_or_label() -> None:
    mode = field(name="m", type="choice", choices={"Fast mode": "fast", "One": 1, "Half": 0.5, "Yes": True})
    assert mode.coerce("fast") == "fast"
    assert mode.coerce("Fast mode") == "fast"
    assert mode.coerce("1") == 1 and type(mode.coerce("1")) is int
    assert mode.coerce("0.5") == 0.5
    assert mode.coerce("true") is True
    assert mode.coerce("One") == 1
    with pytest.raises(SettingsError) as info:
        mode.coerce("slow")
    assert str(info.value) == 'm: "slow" is not one of the choices ("fast", 1, 0.5, true)'


# -- coercion of JSON values ------------------------------------------------------------------------------


def test_coerce_json_values() -> None:
    assert field(name="n", type="int").coerce(2.0) == 2
    assert type(field(name="f", type="float").coerce(2)) is float
    with pytest.raises(SettingsError, match=r"^n: expected an integer, got true$"):
        field(name="n", type="int").coerce(True)
    with pytest.raises(SettingsError, match=r"^b: expected a boolean, got 1$"):
        field(name="b", type="bool").coerce(1)
    with pytest.raises(SettingsError, match=r'^c: 1 is not one of the choices \("1"\)$'):
        field(name="c", type="choice", choices=["1"]).coerce(1)
    with pytest.raises(SettingsError, match=r"^f: expected a finite number, got Infinity$"):
        field(name="f", type="float").coerce(math.inf)


# -- schemas ----------------------------------------------------------------------------------------------


def test_parse_schema_keeps_order_and_drops_duplicates() -> None:
    schema, problems = parse_schema(
        [{"name": "b", "type": "int"}, {"name": "a", "type": "bool"}, {"name": "b", "type": "string"}], "x"
    )
    assert [f.name for f in schema] == ["b", "a"]
    assert problems == [Problem("x[2].name", 'duplicate setting name "b" (first at x[0])')]


def test_parse_schema_duplicate_of_an_invalid_setting_is_still_reported() -> None:
    schema, problems = parse_schema(
        [{"name": "b", "type": "int", "max": "ten"}, {"name": "b", "type": "string"}, {"name": "c", "type": "nope"},
         {"name": "c", "type": "nope"}, {"name": " ", "type": "int"}, {"name": " ", "type": "bool"}],
        "x",
    )
    assert list(schema) == []
    assert problems == [
        Problem("x[0].max", 'expected a number, got "ten"'),
        Problem("x[1].name", 'duplicate setting name "b" (first at x[0])'),
        Problem("x[2].type", 'unknown setting type "nope" (known: info, bool, int, float, string, choice, color)'),
        Problem("x[3].type", 'unknown setting type "nope" (known: info, bool, int, float, string, choice, color)'),
        Problem("x[3].name", 'duplicate setting name "c" (first at x[2])'),
        Problem("x[4].name", 'expected a non-empty string, got " "'),  # no usable name: nothing to duplicate
        Problem("x[5].name", 'expected a non-empty string, got " "'),
    ]


def test_parse_schema_bad_container() -> None:
    assert parse_schema(None, "x") == (SettingsSchema(), [])
    assert parse_schema("a", "x") == (SettingsSchema(), [Problem("x", 'expected an array of settings, got "a"')])


def test_dict_of_defaults_infers_types() -> None:
    schema, problems = parse_schema({"on": True, "n": 3, "f": 0.5, "s": "x", "bad": [1]}, "x")
    assert [(f.name, f.type, f.default, f.inferred) for f in schema] == [
        ("on", "bool", True, True), ("n", "int", 3, True), ("f", "float", 0.5, True), ("s", "string", "x", True),
    ]
    assert problems == [Problem("x.bad", "expected a boolean, a number or a string default, got [1]")]
    assert infer_field("z", None, "p") == (None, [Problem("p", "expected a boolean, a number or a string default, got null")])


def make_schema() -> SettingsSchema:
    schema, problems = parse_schema(
        [
            {"name": "about", "type": "info"},
            {"name": "temp", "type": "int", "default": 200, "min": 150, "max": 300},
            {"name": "fan", "type": "bool", "default": True},
        ],
        "s",
    )
    assert problems == []
    return schema


def test_parse_assignments() -> None:
    schema = make_schema()
    assert schema.parse_assignments(["temp=210", " fan = off"]) == {"temp": 210, "fan": False}
    with pytest.raises(SettingsError) as info:
        schema.parse_assignments(["temp"])
    assert str(info.value) == '--set "temp": expected NAME=VALUE'
    with pytest.raises(SettingsError) as info:
        schema.parse_assignments(["speed=3"])
    assert str(info.value) == "speed: no such setting (known: temp, fan)"
    with pytest.raises(SettingsError) as info:
        schema.parse_assignments(["about=x"])
    assert str(info.value) == "about: no such setting (known: temp, fan)"


def test_resolve_stored_values_fall_back_with_a_warning() -> None:
    schema = make_schema()
    values, warnings = schema.resolve({"temp": 999, "fan": "off", "persisted": [1]}, {"temp": "190"})
    assert values == {"temp": 190, "fan": False, "persisted": [1]}
    assert warnings == ["stored value ignored, using the default 200: temp: 999 is above the maximum 300"]
    with pytest.raises(SettingsError):
        schema.resolve({}, {"temp": "hot"})


def test_defaults_skip_info() -> None:
    assert make_schema().defaults() == {"temp": 200, "fan": True}


# -- fuzzing ------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
FIELDS = [
    field(name="b", type="bool"),
    field(name="i", type="int", min=-5, max=5),
    field(name="f", type="float", min=0.5),
    field(name="s", type="string"),
    field(name="c", type="choice", choices={"A": "a", "One": 1, "T": True}),
    field(name="k", type="color"),
]


@given(value=json_values | st.text(max_size=12), index=st.integers(0, len(FIELDS) - 1))
def test_fuzz_coerce_gives_a_valid_value_or_a_settings_error(value: object, index: int) -> None:
    target = FIELDS[index]
    try:
        result = target.coerce(value)
    except SettingsError as exc:
        assert str(exc).startswith(f"{target.name}: ")
        return
    assert target.validate(result) == result  # what comes out is accepted as it is


@given(raw=st.dictionaries(
    st.sampled_from(["name", "type", "label", "description", "default", "min", "max", "choices", "x"]),
    json_values | st.sampled_from(SETTING_TYPES),
))
def test_fuzz_declarations_never_raise(raw: dict[str, Any]) -> None:
    parsed, problems = parse_field(raw, "s")
    if parsed is None:
        assert any(p.severity == "error" for p in problems)
    else:
        assert all(p.severity == "warning" for p in problems)
        if parsed.has_value:
            assert parsed.validate(parsed.default) == parsed.default
        json.dumps(parsed.to_json(), allow_nan=False)
