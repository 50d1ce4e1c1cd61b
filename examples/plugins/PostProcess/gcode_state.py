"""The state a G-code program has set up by a given line: units, G90/G91, M82/M83, feed rate, position.

Both actions need it: the pause restores exactly the modes, feed rate and position it changes, and
scale-and-translate must know whether a word is absolute or relative. Lines are read by the rules
of the document model (docs/document.md, Marlin's): G90/G91 set X, Y, Z and E; M82/M83 then set E
alone; these and G20/G21 count anywhere in a line (`G21 G90`); G92 renames the position; G28
homes the named axes (all when none is named) to 0; a line of bare coordinates continues the last
G0-G3. Positions are the program's own coordinates (after G92, in the file's units): what a line
written into the program must use.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MOVES = ("G0", "G1", "G2", "G3")
MM_PER_INCH = 25.4
Words = Mapping[str, float | None]
# Not after a letter ("Layer90" in a message is no word), and not "G90.1" (the arc-centre mode).
_MODAL_WORD = re.compile(r"(?<![A-Za-z])([GgMm])[ \t]*0*(20|21|82|83|90|91)(?![\d.])")
_MODAL_BYTES = re.compile(_MODAL_WORD.pattern.encode())


@dataclass
class GcodeState:
    """What the lines read so far have set. `follow(line)` reads one more line."""

    inches: bool = False  # G20
    relative: bool = False  # G91: X, Y and Z words are distances
    e_relative: bool = False  # M83 (or G91 not followed by M82): E words are distances
    feed: float | None = None  # the modal F in mm/min (converted from the units of its line); None until set
    position: dict[str, float] = field(default_factory=lambda: dict.fromkeys("XYZE", 0.0))
    motion: str = "G1"  # the last G0-G3, which a line of bare coordinates repeats

    @property
    def unit(self) -> float:
        """Millimetres per file unit (25.4 after G20)."""
        return MM_PER_INCH if self.inches else 1.0

    def move_of(self, command: str | None, words: Words) -> str | None:
        """The move a line makes ("G0"-"G3", a bare coordinate line counting as the last one), else None."""
        if command in MOVES:
            return command
        if command is None and any(words.get(axis) is not None for axis in "XYZE"):
            return self.motion
        return None

    def target(self, words: Words) -> dict[str, float]:
        """Where a move takes each axis it names, in program coordinates (relative words added)."""
        out = {}
        for axis in "XYZE":
            value = words.get(axis)
            if value is not None:
                relative = self.e_relative if axis == "E" else self.relative
                out[axis] = self.position[axis] + value if relative else value
        return out

    def follow(self, line: Any) -> None:
        """Update the state with one line (modal words first: `G1 X5 G91` is relative, as the document reads it)."""
        self.follow_modes(line)
        command, words = line.command, line.words
        self.follow_words(command, words, self.move_of(command, words))

    def follow_words(self, command: str | None, words: Words, move: str | None) -> None:
        """`follow` after `follow_modes`, for a caller that has the line's command, words and move already."""
        if move is not None:
            self.motion = move
            self.position.update(self.target(words))
            feed = words.get("F")
            if feed is not None:
                self.feed = feed * self.unit
        elif command == "G92":
            self.position.update((a, v) for a, v in words.items() if a in "XYZE" and v is not None)
        elif command == "G28":
            for axis in [a for a in "XYZ" if a in words] or ["X", "Y", "Z"]:
                self.position[axis] = 0.0

    def follow_modes(self, line: Any) -> None:
        """Only the G20/G21, G90/G91 and M82/M83 words of a line (never in comments or M117 text)."""
        if line.argument is not None:
            return
        for letter, number in _MODAL_WORD.findall(line.code):
            word = letter.upper() + number
            if word in ("G20", "G21"):
                unit = self.unit
                self.inches = word == "G20"
                for axis, value in self.position.items():  # the head stays; its coordinates change unit
                    self.position[axis] = value * unit / self.unit
            elif word in ("G90", "G91"):
                self.relative = self.e_relative = word == "G91"
            else:
                self.e_relative = word == "M83"


def state_before(document: Any, index: int) -> GcodeState:
    """The state after every line before `index` (what a line inserted there finds), read quickly.

    The same as following every line, without parsing every line: the modes come from the few lines
    holding modal words (one regex over the bytes), the position from the document's toolpath minus
    what G92 renamed, the feed rate and motion from the nearest moves before `index`.
    """
    state = GcodeState()
    if index <= 0:
        return state
    feed_line, feed, motion = _last_feed_and_motion(document, index)
    state.motion = motion
    starts = document.line_start_offsets()
    hits = _MODAL_BYTES.finditer(document.to_bytes(), 0, int(starts[index]))
    events = {bisect.bisect_right(starts, hit.start()) - 1 for hit in hits}
    events.update(document.find(["G92", "G28"], stop=index))
    toolpath = document.toolpath()
    machine = {"X": toolpath.x, "Y": toolpath.y, "Z": toolpath.z, "E": toolpath.e}
    shift = dict.fromkeys("XYZE", 0.0)  # mm: machine position minus program position, set by G92
    for i in sorted(events):
        if feed is not None and i > feed_line and state.feed is None:
            state.feed = feed * state.unit  # F counts in the units in effect on its own line
        line = document[i]
        state.follow_modes(line)
        words = line.words
        if line.command == "G92":
            for axis, value in words.items():
                if axis in shift and value is not None:
                    shift[axis] = float(machine[axis][i]) - value * state.unit
        elif line.command == "G28":
            for axis in [a for a in "XYZ" if a in words] or ["X", "Y", "Z"]:
                shift[axis] = 0.0
    if feed is not None and state.feed is None:
        state.feed = feed * state.unit
    for axis in "XYZE":
        state.position[axis] = (float(machine[axis][index - 1]) - shift[axis]) / state.unit
    return state


def _last_feed_and_motion(document: Any, index: int) -> tuple[int, float | None, str]:
    """The last F set by a move before `index` (its line and value) and the last G0-G3 command."""
    feed_line, feed, motion = -1, None, None
    for i in range(index - 1, -1, -1):  # slicers write F every few lines: this stops almost at once
        line = document[i]
        command, words = line.command, line.words
        if command in MOVES or (command is None and any(a in words for a in "XYZE")):
            motion = motion or command  # None for a bare line: its motion is further back
            if feed is None and words.get("F") is not None:
                feed_line, feed = i, words["F"]
        if feed is not None and motion is not None:
            break
    return feed_line, feed, motion or "G1"
