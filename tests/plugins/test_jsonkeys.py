"""plugins/_jsonkeys.py: json.loads that also reports repeated object keys, with their JSON paths."""

from __future__ import annotations

import json

import pytest

from scriptdeck.plugins._jsonkeys import Decoder, DuplicateKey

loads = Decoder().loads


def test_no_duplicates_gives_what_json_loads_gives() -> None:
    text = '{"a": [1, {"b": {}}], "c": null}'
    assert loads(text) == (json.loads(text), [])


def test_duplicates_in_document_order_with_every_value() -> None:
    text = '{"z": [{"k": 1, "k": 2}, {"x": {"y": 0, "y": 1, "y": 2}}], "a": 1, "a": 2}'
    data, found = loads(text)
    assert data == {"z": [{"k": 2}, {"x": {"y": 2}}], "a": 2}
    assert found == [
        DuplicateKey("", "a", (1, 2)),
        DuplicateKey("z[0]", "k", (1, 2)),
        DuplicateKey("z[1].x", "y", (0, 1, 2)),
    ]


def test_a_duplicate_inside_a_discarded_value_is_not_reported() -> None:
    data, found = loads('{"a": {"b": 1, "b": 2}, "a": 3}')
    assert (data, found) == ({"a": 3}, [DuplicateKey("", "a", ({"b": 2}, 3))])


def test_deep_nesting_is_walked_without_recursion() -> None:
    depth = 500
    _, found = loads('{"a": ' * depth + '{"k": 1, "k": 2}' + "}" * depth)
    assert found == [DuplicateKey(".".join(["a"] * depth), "k", (1, 2))]


def test_options_and_errors_pass_through_and_a_failed_parse_leaves_nothing_behind() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads('{"a": 1, "a": 2, "b": }')
    assert loads('{"a": 1}') == ({"a": 1}, [])
    assert Decoder(parse_constant=lambda token: token).loads("NaN") == ("NaN", [])
