"""Action "Search and replace": a regular expression (or plain text) replaced on every line of the job.

The match runs on each line's text without its line ending, so `^` and `$` anchor at line
boundaries. A replacement may contain `\\n` to turn one line into several. Runs in a scriptdeck
worker; uses only the document's public API (`document.lines`, `document.replace`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any


def compile_search(settings: dict[str, Any]) -> tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]:
    """The compiled pattern and the replacement; ValueError naming the setting when either is unusable."""
    find = str(settings.get("find", ""))
    replacement = str(settings.get("replace", ""))
    if not find:
        raise ValueError("Search and replace: find is empty; enter the text or pattern to look for")
    flags = re.IGNORECASE if settings.get("ignore_case", False) else 0
    if not settings.get("regex", True):
        return re.compile(re.escape(find), flags), lambda match: replacement
    try:
        pattern = re.compile(find, flags)
    except re.error as exc:
        raise ValueError(f"Search and replace: find {find!r} is not a valid regular expression: {exc}") from None
    # A bad group reference in the replacement shows on the first match; `plan` reaches it before
    # any line is changed.
    return pattern, replacement


def plan(lines: Iterable[tuple[int, str]], settings: dict[str, Any]) -> tuple[list[tuple[int, str]], int]:
    """The (index, new text) edits and the number of replacements, without touching anything."""
    pattern, replacement = compile_search(settings)
    edits: list[tuple[int, str]] = []
    total = 0
    for index, text in lines:
        try:
            new, count = pattern.subn(replacement, text)
        except (re.error, IndexError) as exc:
            raise ValueError(
                f"Search and replace: replace {settings.get('replace', '')!r} is not a valid replacement "
                f"(line {index + 1}): {exc}"
            ) from None
        if count and new != text:
            edits.append((index, new))
        total += count
    return edits, total


def search_replace(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Replace every match on every line; a bad pattern fails before the job is touched."""
    edits, total = plan(((index, line.raw) for index, line in document.lines()), settings)
    # Back to front: a replacement with "\n" adds lines and would shift the indices after it.
    for index, text in reversed(edits):
        document.replace(index, text)
    if total:
        window.information(f"{total} replacements on {len(edits)} lines")
    else:
        window.information(f"no line matches {settings.get('find', '')!r}")
