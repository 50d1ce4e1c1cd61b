"""One line of G-code as a value: its raw text, line ending, and lazily parsed command, words and comment."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = ["STRING_ARGUMENT_COMMANDS", "Line", "format_number"]

# Commands whose parameter is free text (a message or a file name), not words:
# "M117 Layer 5 X" must not read as a word X.
STRING_ARGUMENT_COMMANDS = frozenset({"M23", "M28", "M30", "M32", "M117", "M118", "M928"})

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))?")
_COMMAND = re.compile(r"\s*([GgMmTt])\s*([-+]?\d+(?:\.\d+)?)")
_LINE_NUMBER = re.compile(r"\s*[Nn]\s*\d+")
_CHECKSUM = re.compile(r"\*\d*\s*$")


def format_number(value: float) -> str:
    """Format a coordinate the way slicers do: at most 5 decimals, no trailing zeros, never "-0"."""
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _normalise_command(letter: str, number: str) -> str:
    # "G01" and "G1" are the same command; keep a fractional part ("G29.1") as written.
    whole, _, frac = number.lstrip("+").partition(".")
    whole = whole.lstrip("0") or "0"
    return f"{letter.upper()}{whole}.{frac}" if frac else f"{letter.upper()}{whole}"


class Line:
    """One line of a G-code program; immutable.

    ``raw`` is the text without its line ending, ``ending`` the ending ("\\n", "\\r\\n" or "" for a
    last line without one). ``command`` ("G1", "M104", "T0" — normalised, so "G01" reads "G1"),
    ``words`` (every other word, letter upper-cased → value, ``None`` for a bare letter as in
    ``G28 X``) and ``comment`` (text after ``;`` or inside ``( )``) are parsed on first use.

    >>> Line("G1 X10 Y5.5 E0.2 ; perimeter").words
    {'X': 10.0, 'Y': 5.5, 'E': 0.2}
    """

    __slots__ = ("_parsed", "ending", "raw")

    raw: str
    ending: str
    _parsed: tuple[str | None, dict[str, float | None], str | None, str, str | None] | None

    def __init__(self, raw: str, ending: str = "") -> None:
        self.raw = raw
        self.ending = ending
        self._parsed = None

    def __repr__(self) -> str:
        return f"Line({self.raw!r}, {self.ending!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Line):
            return NotImplemented
        return self.raw == other.raw and self.ending == other.ending

    def __hash__(self) -> int:
        return hash((self.raw, self.ending))

    @classmethod
    def make(
        cls, command: str | None, words: Mapping[str, float | None] | None = None, comment: str | None = None
    ) -> Line:
        """Build a line from parts: ``Line.make("G1", {"X": 10, "Z": 0.2}, "lift")`` → ``G1 X10 Z0.2 ; lift``."""
        words = dict(words or {})
        parts = []
        if "N" in words:  # a line number must lead the line
            parts.append(f"N{format_number(words.pop('N') or 0)}")
        if command:
            parts.append(command)
        for letter, value in words.items():
            parts.append(letter.upper() if value is None else f"{letter.upper()}{format_number(value)}")
        text = " ".join(parts)
        if comment is not None:
            text = f"{text} ; {comment}" if text else f";{comment}"
        return cls(text)

    def _parse(self) -> tuple[str | None, dict[str, float | None], str | None, str, str | None]:
        if self._parsed is not None:
            return self._parsed
        text = self.raw
        comment: str | None = None
        semi = text.find(";")
        if semi >= 0:
            comment = text[semi + 1 :]
            text = text[:semi]
        if "(" in text:
            # Parenthesised comments (CNC style) may sit mid-line; the first one is the comment
            # unless a ";" comment exists.
            pieces = re.findall(r"\(([^)]*)\)?", text)
            if comment is None and pieces:
                comment = pieces[0]
            text = re.sub(r"\([^)]*\)?", " ", text)
        code = _CHECKSUM.sub("", text).strip()
        body = code
        number = _LINE_NUMBER.match(body)
        words: dict[str, float | None] = {}
        if number:
            words["N"] = float(number.group(0).strip()[1:].strip())
            body = body[number.end() :]
        command: str | None = None
        argument: str | None = None
        found = _COMMAND.match(body)
        if found:
            command = _normalise_command(found.group(1), found.group(2))
            body = body[found.end() :]
        if command in STRING_ARGUMENT_COMMANDS:
            argument = body.strip()
        else:
            for letter, value in _WORD.findall(body):
                words[letter.upper()] = float(value) if value else None
        self._parsed = (command, words, comment, code, argument)
        return self._parsed

    @property
    def command(self) -> str | None:
        """The first G/M/T word, normalised ("G1", "M104", "T0"), or None (blank, comment, bare words)."""
        return self._parse()[0]

    @property
    def words(self) -> dict[str, float | None]:
        """Every word but the command, upper-case letter → value (a copy: edit it, then ``with_words``)."""
        return dict(self._parse()[1])

    @property
    def comment(self) -> str | None:
        """Text after ``;`` (or inside the first ``( )``), without the delimiter; None when there is none."""
        return self._parse()[2]

    @property
    def code(self) -> str:
        """The line without comment and checksum, stripped."""
        return self._parse()[3]

    @property
    def argument(self) -> str | None:
        """The free-text parameter of a message/file command (``M117 Hello`` → "Hello"), else None."""
        return self._parse()[4]

    @property
    def is_move(self) -> bool:
        """True for G0/G1/G2/G3."""
        return self.command in ("G0", "G1", "G2", "G3")

    def get(self, letter: str, default: float | None = None) -> float | None:
        """The value of one word (``line.get("Z")``), or ``default`` when the word is absent or bare."""
        value = self._parse()[1].get(letter.upper())
        return default if value is None or (isinstance(value, float) and math.isnan(value)) else value

    def with_words(self, **changes: float | None) -> Line:
        """A copy with some words set (``None`` removes one), same command, comment and line ending.

        The line is re-written in canonical form (``G1 X10 Y5 ; comment``); use a plain string to keep
        other formatting.
        """
        words = dict(self._parse()[1])
        for letter, value in changes.items():
            if value is None:
                words.pop(letter.upper(), None)
            else:
                words[letter.upper()] = value
        comment = self.comment
        made = Line.make(self.command, words, comment.strip() if comment is not None else None)
        return Line(made.raw, self.ending)
