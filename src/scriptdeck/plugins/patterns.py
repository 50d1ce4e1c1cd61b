"""The string rules of plugin.json, written once for both the validator and the JSON Schema.

Each pattern is a JSON-Schema-compatible (ECMA-262) regular expression. They end in
`$(?![\\s\\S])` because Python's `$` also matches before a final newline ("main\\n"), and the
`jsonschema` package evaluates patterns with Python's `re.search`; the lookahead makes both
dialects reject a trailing newline.
"""

from __future__ import annotations

import re

_END = r"$(?![\s\S])"

# A module or function name: a plain ASCII Python identifier (no dots, so no packages or paths).
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*" + _END
# Service ids, format slugs and file extensions: safe in a service id and on a command line.
TOKEN_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._+-]*" + _END
TOKEN_RULE = 'letters, digits, "_", ".", "+" or "-", starting with a letter, digit or "_"'
# Freedesktop icon naming spec: lowercase ASCII letters, digits, "_", "-" and "." only.
THEME_PREFIX = "theme:"
THEME_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?" + _END

IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
TOKEN = re.compile(TOKEN_PATTERN)
THEME_NAME = re.compile(THEME_NAME_PATTERN)
