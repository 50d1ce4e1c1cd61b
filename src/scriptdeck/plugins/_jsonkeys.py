"""Parse JSON text like `json.loads`, and also report the objects that repeat a key (the last value wins).

`json.loads` keeps the last of a repeated key without a word, so an author who writes `"label"` twice
never learns which one is shown. Finding them costs one `object_pairs_hook` call per object; the
JSON path of an object is only worked out (by walking the parsed value) when some object repeats a key.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Decoder", "DuplicateKey"]


@dataclass(frozen=True)
class DuplicateKey:
    """`key` appears more than once in the object at `path` ("" for the top level); `values` in order."""

    path: str
    key: str
    values: tuple[Any, ...]


class Decoder:
    """Made once and reused: building a `json.JSONDecoder` (what `json.loads(text, **options)` does on
    every call) costs about as much as parsing a small manifest."""

    def __init__(self, **options: Any) -> None:
        repeated: dict[int, list[tuple[str, Any]]] = {}

        def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            obj = dict(pairs)
            if len(obj) != len(pairs):  # only the rare object with a repeated key costs more than dict()
                repeated[id(obj)] = pairs  # kept alive here, so its id stays unique until the walk
            return obj

        self._repeated = repeated
        self._json = json.JSONDecoder(object_pairs_hook=pairs_hook, **options)
        self._lock = threading.Lock()  # the hook's findings belong to one parse at a time

    def loads(self, text: str) -> tuple[Any, list[DuplicateKey]]:
        """The parsed value and its repeated keys in document order; raises as `json.loads` does."""
        with self._lock:
            try:
                data = self._json.decode(text)
                return data, (_find(data, self._repeated) if self._repeated else [])
            finally:
                self._repeated.clear()


def _find(data: Any, repeated: dict[int, list[tuple[str, Any]]]) -> list[DuplicateKey]:
    """Walk the value in document order (iteratively: JSON nests deeper than Python recurses)."""
    found: list[DuplicateKey] = []
    left = len(repeated)
    stack: list[tuple[str, Any]] = [("", data)]
    while stack and left:
        path, value = stack.pop()
        if isinstance(value, dict):
            pairs = repeated.get(id(value))
            if pairs is not None:
                left -= 1
                found += _duplicates(path, pairs)
            stack.extend((f"{path}.{key}" if path else key, child) for key, child in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(value))))
    return found


def _duplicates(path: str, pairs: list[tuple[str, Any]]) -> list[DuplicateKey]:
    values: dict[str, list[Any]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return [DuplicateKey(path, key, tuple(items)) for key, items in values.items() if len(items) > 1]
