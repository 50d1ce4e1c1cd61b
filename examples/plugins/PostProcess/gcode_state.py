"""The state a G-code program has set up by a given line: the document's modal state, and the position.

Both actions need it: the pause restores exactly the modes, feed rate and position it changes, and
scale-and-translate must know whether a word is absolute or relative. The modes (G20/G21, G90/G91,
M82/M83, the feed rate, the last G0-G3) are the document model's own, `toolpath.state_at(line)`, so
the plugin reads a job exactly as the document does (docs/document.md). Positions are the program's
own coordinates (after G92, in the file's units): what a line written into the program must use.
The document holds machine positions only, so these are followed here: G92 renames the position;
G28 homes the named axes (all when none is named) to 0; a line of bare coordinates continues the
last G0-G3. `positions_after` follows them for every line at once (numpy), with the same floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scriptdeck.document import ModalState

MOVES = ("G0", "G1", "G2", "G3")
Words = Mapping[str, float | None]


@dataclass
class GcodeState:
    """What the lines read so far have set. `follow(line, toolpath.state_at(index))` reads one more line."""

    modes: ModalState = field(default_factory=ModalState)  # the document's, for the last line read
    position: dict[str, float] = field(default_factory=lambda: dict.fromkeys("XYZE", 0.0))

    def move_of(self, command: str | None, words: Words) -> str | None:
        """The move a line makes ("G0"-"G3", a bare coordinate line counting as the last one), else None."""
        if command in MOVES:
            return command
        if command is None and any(words.get(axis) is not None for axis in "XYZE"):
            return self.modes.motion
        return None

    def target(self, words: Words) -> dict[str, float]:
        """Where a move takes each axis it names, in program coordinates (relative words added)."""
        out = {}
        for axis in "XYZE":
            value = words.get(axis)
            if value is not None:
                relative = self.modes.e_relative if axis == "E" else self.modes.xyz_relative
                out[axis] = self.position[axis] + value if relative else value
        return out

    def follow(self, line: Any, modes: ModalState) -> None:
        """Update the state with one line, given the document's modes for it (`toolpath.state_at(index)`)."""
        self.set_modes(modes)
        command, words = line.command, line.words
        self.follow_words(command, words, self.move_of(command, words))

    def set_modes(self, modes: ModalState) -> None:
        """Take the modes of the next line first (the document's, which follow Marlin: a line's mode comes
        from its command only, so `G1 X5 G91` moves in the mode already set and switches nothing); a
        change of units converts the position, since the head stays where it is."""
        if modes.unit != self.modes.unit:
            for axis, value in self.position.items():
                self.position[axis] = value * self.modes.unit / modes.unit
        self.modes = modes

    def follow_words(self, command: str | None, words: Words, move: str | None) -> None:
        """`follow` after `set_modes`, for a caller that has the line's command, words and move already."""
        if move is not None:
            self.position.update(self.target(words))
        elif command == "G92":
            self.position.update((a, v) for a, v in words.items() if a in "XYZE" and v is not None)
        elif command == "G28":
            for axis in [a for a in "XYZ" if a in words] or ["X", "Y", "Z"]:
                self.position[axis] = 0.0


def state_before(document: Any, index: int) -> GcodeState:
    """The state after every line before `index` (what a line inserted there finds), read quickly.

    The same as following every line, without parsing every line: the modes are the document's
    (`state_at(index - 1)`), the position is the toolpath's minus what G92 renamed.
    """
    state = GcodeState()
    if index <= 0:
        return state
    toolpath = document.toolpath()
    state.modes = toolpath.state_at(index - 1)
    machine = {"X": toolpath.x, "Y": toolpath.y, "Z": toolpath.z, "E": toolpath.e}
    # The toolpath keeps no G92 offsets (its positions are the machine's), so the few G92 and G28
    # lines are read here: a line written into the program needs the program's coordinates.
    shift = dict.fromkeys("XYZE", 0.0)  # mm: machine position minus program position, set by G92
    for i in document.find(["G92", "G28"], stop=index):
        line = document[i]
        words = line.words
        if line.command == "G92":
            unit = toolpath.state_at(i).unit
            for axis, value in words.items():
                if axis in shift and value is not None:
                    shift[axis] = float(machine[axis][i]) - value * unit
        else:
            for axis in [a for a in "XYZ" if a in words] or ["X", "Y", "Z"]:
                shift[axis] = 0.0
    for axis in "XYZE":
        state.position[axis] = (float(machine[axis][index - 1]) - shift[axis]) / state.modes.unit
    return state


def running(values: np.ndarray, adds: np.ndarray, start: float) -> np.ndarray:
    """Every value `x` takes from `start` when each step sets it (`x = v`) or, where `adds`, adds to it.

    The additions are `GcodeState`'s, in the same order (np.cumsum adds left to right), so the floats are
    those following line by line gives. Runs of additions are short in a G90/M82 job (a G91 hop) and
    long in an M83 one: the first 64 steps of all runs are taken together, the rest of a run by one
    cumsum (so at most one Python step per 65 values).
    """
    out = np.array(values, np.float64)
    at = np.flatnonzero(adds)
    if not at.size:
        return out
    new_run = np.ones(at.size, bool)
    new_run[1:] = np.diff(at) != 1
    index = at[new_run]
    left = np.diff(np.append(np.flatnonzero(new_run), at.size))  # additions in each run
    # A run starts after a step that sets the value (or at the start): its base is already final.
    total = np.where(index > 0, out[np.maximum(index - 1, 0)], start)
    for _ in range(64):
        total = total + out[index]
        out[index] = total
        more = left > 1
        if not more.any():
            return out
        index, total, left = index[more] + 1, total[more], left[more] - 1
    for i, base, count in zip(index.tolist(), total.tolist(), left.tolist(), strict=True):
        out[i : i + count] = np.cumsum(np.concatenate(([base], out[i : i + count])))[1:]
    return out


def positions_after(lines: np.ndarray, values: np.ndarray, adds: np.ndarray, units: list[tuple[int, float, float]],
                    queries: np.ndarray, *, own_units: bool = False) -> np.ndarray:
    """One axis's program position after every line before each of `queries`, as `GcodeState` follows it.

    `lines` (sorted), `values` and `adds` are the lines that change the axis: a move naming it (adding
    when relative), a G92 naming it, a G28 homing it (value 0). `units` holds (line, old, new) where the
    unit changes, which converts the position before that line's words are read; with `own_units` a
    query line's own change counts (what its words find after `set_modes`).
    """
    out = np.empty(lines.size)
    change_lines = np.array([line for line, _, _ in units], np.int64)
    cut = [0, *np.searchsorted(lines, change_lines).tolist(), lines.size]
    bases = []
    position = 0.0
    for k in range(len(cut) - 1):
        if k:
            _, old, new = units[k - 1]
            position = position * old / new  # as set_modes converts
        bases.append(position)
        if cut[k + 1] > cut[k]:
            out[cut[k] : cut[k + 1]] = running(values[cut[k] : cut[k + 1]], adds[cut[k] : cut[k + 1]], position)
            position = float(out[cut[k + 1] - 1])
    # The last change before each query line: how many changes come before it, counted per line
    # (a bincount and a cumsum: cheaper than searching a million queries one by one).
    size = int(max(queries.max(initial=0), lines.max(initial=0))) + 1
    last = np.concatenate(([0], np.cumsum(np.bincount(lines, minlength=size))))[queries] - 1
    segment = np.searchsorted(change_lines, queries if own_units else queries - 1, side="right")
    found = last >= np.array(cut)[segment]
    return np.where(found, out[np.maximum(last, 0)] if out.size else 0.0, np.array(bases)[segment])
