"""Action "Scale and translate": resize and move the printed part, refusing a result that leaves the bed.

Absolute coordinates become `value * scale + offset`; relative ones (G91) are only scaled; G92
positions are transformed like absolute ones (so later absolute moves still agree with them); arc
centres (I/J) and radii (R) are scaled, and a mirror (one negative XY scale) swaps G2 and G3.
With `only_body` (the default) only the print body changes: the start G-code before the first layer
(homing, purge line) and the end G-code after the last layer (present, park) stay byte for byte.

With `scale_extrusion`, the filament a move prints is multiplied by the change in path length times
the change in layer height (sqrt(|sx·sy|)·|sz|), so lines keep their width; retracts, unretracts
and wipes keep their length. In absolute E (M82) the E values are recounted from there; when the
untouched end G-code moves E absolutely, a `G92 E<value>` after the body gives it the E it was
written for.

The bed check covers what is transformed, read by the document model after the edits (machine
coordinates, arcs' full sweep); a failure rolls the edits back, so the job is left as it was.
Runs in a scriptdeck worker; uses the document's public API.

How it is fast: a sliced job is nearly all plain moves (`G1 X12.5 Y3 E0.0421`), so they are read,
changed and written with numpy, in chunks of about 512 KiB (temporaries that stay in the cache and
are reused: fresh memory costs more than the arithmetic), and the document takes the new job in one
`assign`. The other lines that matter (G92, G28, bare coordinates, unusual spellings) are read and
rewritten with `Line`, one by one, as every line once was. The arithmetic is that line-by-line
reading's, step for step (running sums add in file order, numbers are rounded exactly as
`format_number` rounds them), so the result is the same byte for byte. benchmarks/postprocess.py
times a 500,000-line job: ~2.1-2.8 s on 2 cores (~18 s line by line), two thirds of it the document
model's own work (its analysis before and after the edits, `assign`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scriptdeck.document import Line, format_number

from .gcode_state import MOVES, positions_after, running

# Where the last layer ends: the first of these after the last extruding move. Cura closes every layer
# with ;TIME_ELAPSED, PrusaSlicer and OrcaSlicer open the end G-code with ;TYPE:Custom, Simplify3D
# writes "; layer end". Cura's ";End of Gcode" and PrusaSlicer's "; filament used" come *after* the
# end G-code, so they cannot say where it starts; without a marker the body ends at the last extrusion.
END_MARKERS = r"^;TIME_ELAPSED:|^;TYPE:Custom\s*$|^; layer end"

LETTERS = "XYZEFIJR"  # the words a plain move may hold; a word's row is its place here
X, Y, Z, E, F, CENTRE_I, CENTRE_J, RADIUS = range(8)
OTHER, MOVE, G92, G28 = range(4)  # Program.kind
MOVED, SCALED, CENTRED = 1, 2, 4  # Change.how
CHUNK = 1 << 19  # bytes of lines read or written together

# A plain move is "G0"-"G3", then words like " X-12.5" (one of LETTERS, an optional minus, digits with
# at most one dot between them) separated by spaces, then an optional ";" comment: a line `Line` reads
# as that command and those words. Its code part is checked a byte pair at a time, by which class of
# byte may follow which (OUT: any byte outside a code part, which starts with the space after Gn).
OUT, SPACE, LETTER, MINUS, DIGIT, DOT, BAD = range(7)
_CLASS = np.full(256, BAD, np.uint8)
_CLASS[[ord(" "), ord("-"), ord(".")]] = SPACE, MINUS, DOT
_CLASS[ord("0") : ord("9") + 1] = DIGIT
_CLASS[[ord(c) for c in LETTERS]] = LETTER
_FOLLOWS = {OUT: (OUT, SPACE), SPACE: (OUT, SPACE, LETTER), LETTER: (MINUS, DIGIT), MINUS: (DIGIT,),
            DIGIT: (OUT, SPACE, DIGIT, DOT), DOT: (DIGIT,)}
_PAIR_BAD = np.ones(256, np.uint8)  # a class pair (8·before + after) → 1 when a plain move cannot hold it
for _before, _afters in _FOLLOWS.items():
    _PAIR_BAD[[_before * 8 + after for after in _afters]] = 0
# bytes.translate tables: ~3x faster than indexing a numpy table with every byte of the job
_CLASS_OF, _PAIR_BAD_OF = _CLASS.tobytes(), _PAIR_BAD.tobytes()
_ROW_OF = np.zeros(256, np.int8)
_ROW_OF[[ord(c) for c in LETTERS]] = np.arange(8)

# Reading eight characters at once (SWAR), as the document's scanner does: a uint64 lane holds them,
# the first in its lowest byte.
_U64 = np.uint64
_ZEROS = _U64(0x3030303030303030)  # eight "0" characters
_HIGH_NIBBLES = _U64(0xF0F0F0F0F0F0F0F0)
_LOW = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)  # the low k bytes of a lane
_HIGH = np.array([((1 << 64) - 1) ^ ((1 << (8 * (8 - k))) - 1) for k in range(9)], np.uint64)  # the high k
_SHIFT = np.array([8 * (8 - k) for k in range(9)], np.uint64)  # moves the low k bytes to the top
_POW10_INT = np.array([10**k for k in range(9)], np.uint64)
_POW10 = 10.0 ** np.arange(9)
_EXACT = _U64(1 << 53)  # integers below this are exact doubles

# Writing, a uint64 lane at a time: the three digit characters of 0-999 (the first in the lowest byte),
# ".ddddd" for every fraction in 1e-5, and how much of that format_number keeps, dot included
# ("0.25000" keeps ".25": 3; nothing of 0).
_DIGITS3 = (np.arange(1000)[:, None] // np.array([100, 10, 1]) % 10 + ord("0")).astype(np.uint64) @ (
    np.array([1, 1 << 8, 1 << 16], np.uint64))
_FRACTION_LANE = _U64(ord(".")) | ((np.arange(100_000)[:, None] // 10 ** np.arange(4, -1, -1) % 10 + ord("0")).astype(
    np.uint64) << (_U64(8) * np.arange(1, 6, dtype=np.uint64))).sum(axis=1, dtype=np.uint64)
_FRACTION_SIZE = np.where(np.arange(100_000) == 0, 0,
                          6 - sum((np.arange(100_000) % 10**k == 0).astype(np.int64) for k in range(1, 5)))
_LETTER_BYTE = np.frombuffer(LETTERS.encode(), np.uint8).astype(np.uint64)
_COMMANDS = b"G0G1G2G3"


@dataclass
class Extent:
    """The smallest and largest value each axis reaches (mm), and the first line outside the bed per axis."""

    low: dict[str, float] = field(default_factory=lambda: dict.fromkeys("XYZ", math.inf))
    high: dict[str, float] = field(default_factory=lambda: dict.fromkeys("XYZ", -math.inf))
    outside: dict[str, int] = field(default_factory=dict)

    def add(self, axis: str, lines: np.ndarray, values: np.ndarray, bed: dict[str, float] | None) -> None:
        """Values the head reaches on `axis`, each with the index of the line that takes it there."""
        if not values.size:
            return
        self.low[axis] = min(self.low[axis], float(values.min()))
        self.high[axis] = max(self.high[axis], float(values.max()))
        if bed is not None:
            bad = lines[(values < -1e-6) | (values > bed[axis] + 1e-6)]
            if bad.size:
                self.outside[axis] = min(self.outside.get(axis, int(bad.min())), int(bad.min()))

    @property
    def first_outside(self) -> tuple[int, str] | None:
        """(line index, axis) of the first line that leaves the bed, or None."""
        return min(((line, axis) for axis, line in self.outside.items()), default=None)


@dataclass
class Words:
    """Words of plain moves, in file order: the line, the row (place in LETTERS) and the value of each."""

    line: np.ndarray
    row: np.ndarray
    value: np.ndarray


@dataclass
class Program:
    """What the transform reads of every line. Per-line arrays; a word's value is NaN where it is absent."""

    data: bytes
    offsets: np.ndarray  # where each line starts, plus the length
    content_end: np.ndarray  # where its text ends (its ending follows)
    code_end: np.ndarray  # where its code ends: its first ";", else content_end
    kind: np.ndarray  # OTHER, MOVE, G92 or G28
    move: np.ndarray  # a move's G0-G3 as 0-3 (bare coordinates: the last G0-G3)
    arc_command: np.ndarray  # the line says G2 or G3 (what a mirror swaps)
    plain: np.ndarray  # plain moves: read and written without a Line
    chunks: list[tuple[int, int, Words]] = field(default_factory=list)  # line ranges and their plain words
    rows: dict[int, np.ndarray] = field(default_factory=dict)  # LETTERS row → its value on every line (not F)
    homes: dict[int, list[int]] = field(default_factory=dict)  # G28 line → the axes (rows) it homes
    parsed: dict[int, Line] = field(default_factory=dict)  # the other lines that matter (moves, G92, G28)

    def row(self, row: int) -> np.ndarray:
        """The value of word `row` on every line (NaN where absent)."""
        if row not in self.rows:
            self.rows[row] = np.full(self.kind.size, np.nan)
        return self.rows[row]

    def line(self, index: int) -> Line:
        """Line `index` as it was read."""
        raw = self.data[int(self.offsets[index]) : int(self.content_end[index])]
        ending = self.data[int(self.content_end[index]) : int(self.offsets[index + 1])]
        return Line(raw.decode("utf-8", "surrogateescape"), ending.decode())


@dataclass
class Change:
    """What the transform does to each word: the settings and, per line, what the line is."""

    factor: np.ndarray  # per row: X/Y/Z/I/J scale, |scale X| for R
    offset: np.ndarray  # per row: X/Y/Z offset (mm)
    mirror: bool
    body: np.ndarray  # per line: a move or G92 of the body, so its words change
    how: np.ndarray  # per line: MOVED (absolute moves, G92) or SCALED (G91 moves); | CENTRED for arcs with I/J/R
    unit: np.ndarray | None  # mm per file unit per line; None when all are 1
    e: np.ndarray  # the E each body move gets (NaN: none)

    def new(self, row: np.ndarray, line: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The new value of each word (its row, line, value); NaN where the word is not transformed.

        X/Y/Z: `value * scale + offset / unit` (G91 moves: `value * scale`), as the line-by-line
        version computed them, in the same order of operations (dividing by a unit of 1 changes nothing).
        """
        how = self.how[line]
        offset = self.offset[row]
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = value * self.factor[row]
            new = np.where(how & SCALED, scaled, scaled + (offset if self.unit is None else offset / self.unit[line]))
        new[(row > Z) | (how == 0)] = np.nan
        arc = (row >= CENTRE_I) & (how >= CENTRED)
        new[arc] = scaled[arc]
        e = row == E
        new[e] = self.e[line[e]]
        return new


@dataclass
class Plan:
    """What a run changes: the new job (None: no line changes), how many lines, and what to check."""

    program: Program
    text: bytes | None = None
    edits: int = 0  # lines rewritten
    named: dict[str, np.ndarray] = field(default_factory=dict)  # body moves naming each axis
    arcs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # body G2/G3 moves
    restore_e: float | None = None  # absolute E the untouched end G-code expects (G92 E… at `end`)


def _number(settings: dict[str, Any], name: str, default: float) -> float:
    return float(settings.get(name, default))


def print_body(document: Any) -> tuple[int, int] | None:
    """Lines [first, end) from the first layer to the end of the last one; None when the job has no layers."""
    layers = document.layers
    if not layers:
        return None
    first = layers[0].first_line
    printing = document.toolpath().printing.nonzero()[0]
    if not printing.size:  # layer comments but no extrusion: the layers are all there is
        return first, len(document)
    last = int(printing[-1])
    marker = document.find(pattern=END_MARKERS, start=last + 1)
    return first, max(first, marker[0] if marker else last + 1)


# -- reading ------------------------------------------------------------------------------------------


def read_program(document: Any) -> Program:
    """Every line's command and words: plain moves with numpy, the other moves, G92 and G28 with `Line`.

    Comments, blank lines and M/T commands are skipped: nothing the transform reads is on them.
    """
    data = document.to_bytes()
    offsets = np.asarray(document.line_start_offsets(), np.int64)
    a = np.frombuffer(data, np.uint8)
    starts, stops = offsets[:-1], offsets[1:]
    content_end = stops - (a[np.maximum(stops - 1, 0)] == ord("\n"))
    content_end -= (content_end < stops) & (content_end > starts) & (a[np.maximum(content_end - 1, 0)] == ord("\r"))
    length = content_end - starts
    c0, c1, c2 = (a[np.minimum(starts + k, max(a.size - 1, 0))] for k in range(3))
    plain = (length >= 4) & (c0 == ord("G")) & (c1 >= ord("0")) & (c1 <= ord("3")) & (c2 == ord(" "))
    command_m_t = ((c0 | 32) == ord("m")) | ((c0 | 32) == ord("t"))
    skip = (length == 0) | (c0 == ord(";")) | (command_m_t & (length >= 2) & (c1 - 48 < 10))
    semis = np.flatnonzero(a == ord(";"))
    semi_line = np.searchsorted(offsets, semis, side="right") - 1
    first_semi = np.ones(semis.size, bool)
    first_semi[1:] = semi_line[1:] != semi_line[:-1]
    code_end = content_end.copy()
    code_end[semi_line[first_semi]] = semis[first_semi]
    move = np.where(plain, c1 - ord("0"), 0).astype(np.int8)
    program = Program(data, offsets, content_end, code_end, np.where(plain, MOVE, OTHER).astype(np.int8), move,
                      plain & (move >= 2), plain)
    for lo, hi in _chunks(offsets):
        words = _read_chunk(program, lo, hi)
        program.chunks.append((lo, hi, words))
        for row in np.flatnonzero(np.bincount(words.row, minlength=8)).tolist():
            if row != F:
                here = words.row == row
                program.row(row)[words.line[here]] = words.value[here]
    program.kind[~plain] = OTHER
    program.move[~plain] = 0
    program.arc_command[~plain] = False
    _read_others(document, program, np.flatnonzero(~plain & ~skip))
    return program


def _chunks(offsets: np.ndarray) -> Iterator[tuple[int, int]]:
    """Line ranges [lo, hi) of about CHUNK bytes (a longer line alone)."""
    bounds = np.searchsorted(offsets, np.arange(0, int(offsets[-1]), CHUNK)).tolist()
    for lo, hi in zip(bounds, [*bounds[1:], offsets.size - 1], strict=False):
        if hi > lo:  # a line longer than CHUNK leaves an empty range
            yield lo, hi


def _read_chunk(program: Program, lo: int, hi: int) -> Words:
    """The words of the plain moves among lines [lo, hi); lines that turn out not to be plain (a byte
    pair a plain move cannot hold, a number with two dots, a letter twice) are unmarked in `plain`."""
    plain, offsets = program.plain, program.offsets
    start = int(offsets[lo])
    text = program.data[start : int(offsets[hi])]
    local = offsets[lo : hi + 1] - start
    lines = lo + np.flatnonzero(plain[lo:hi])
    # Byte classes inside the code parts (from the space after Gn to the comment or the line's end), OUT
    # elsewhere: one np.repeat of alternating runs outside and inside.
    edges = np.empty(2 * lines.size + 2, np.int64)
    edges[0], edges[-1] = 0, len(text)
    edges[1:-1:2], edges[2:-1:2] = local[lines - lo] + 2, program.code_end[lines] - start
    inside = np.zeros(edges.size - 1, bool)
    inside[1::2] = True
    classes = np.empty(len(text) + 1, np.uint8)
    classes[-1] = OUT
    np.multiply(np.frombuffer(text.translate(_CLASS_OF), np.uint8), np.repeat(inside, np.diff(edges)),
                out=classes[:-1])
    pairs = classes[:-1] * np.uint8(8) + classes[1:]
    word_start = np.flatnonzero(pairs == SPACE * 8 + LETTER) + 1
    word_end = np.flatnonzero((pairs == DIGIT * 8 + SPACE) | (pairs == DIGIT * 8 + OUT)) + 1
    bad = np.flatnonzero(np.frombuffer(pairs.tobytes().translate(_PAIR_BAD_OF), bool))
    if bad.size:  # those lines' words are dropped; the others pair up, one start and one end per word
        plain[lo + np.searchsorted(local, bad, side="right") - 1] = False
        word_start, word_end = (p[plain[lo + np.searchsorted(local, p - 1, side="right") - 1]]
                                for p in (word_start, word_end))
        lines = lo + np.flatnonzero(plain[lo:hi])
    count = np.diff(np.searchsorted(word_start, local[lines - lo]), append=word_start.size)
    words = Words(np.repeat(lines, count), _ROW_OF[np.frombuffer(text, np.uint8)[word_start]],
                  np.zeros(word_start.size))
    padded = np.zeros(len(text) + 16, np.uint8)  # padded[p + 8] is text[p]: lanes near the ends stay inside
    padded[8:-8] = np.frombuffer(text, np.uint8)
    odd = _values(text, padded, word_start, word_end, words.value)
    # "X1.2.3" (float() refuses it) or a letter twice (Line keeps its first place and last value): Line's.
    at = words.line - lo
    bits = np.bincount(at, weights=np.left_shift(1, words.row.astype(np.int64)), minlength=hi - lo).astype(np.int64)
    odd_lines = np.bitwise_count(bits) != np.bincount(at, minlength=hi - lo)
    odd_lines[at[odd]] = True
    if odd_lines.any():
        plain[lo + np.flatnonzero(odd_lines)] = False
        keep = plain[words.line]
        words = Words(words.line[keep], words.row[keep], words.value[keep])
    return words


def _values(text: bytes, padded: np.ndarray, start: np.ndarray, end: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The value of each word text[start:end] ("X-12.5") into `out`, exactly as float() reads its number;
    returns which have a second dot (float() would refuse them).

    Up to 8 digits each side of the dot: the two digit runs are read as integers and divided once
    (both exact, so the quotient is the correctly rounded double, as float() gives). Longer numbers
    go through float() itself.
    """
    lanes = np.ndarray((padded.size - 7,), "<u8", padded, 0, (1,))  # lanes[p] holds text[p - 8 : p]
    negative = padded[start + 9] == ord("-")
    body = start + 1 + negative
    length = end - body
    k = np.minimum(length, 8)
    lane = (lanes[body + 8] & _LOW[k]) | (_ZEROS & ~_LOW[k])  # the first 8 characters, "0" past the end
    other = (lane & _HIGH_NIBBLES) ^ _ZEROS  # nonzero in bytes that are no digit: the dot
    lowest = other & (_U64(0) - other)
    whole = np.minimum((np.bitwise_count(lowest - _U64(1)) >> _U64(3)).astype(np.int64), length)
    has_dot = whole < length
    fraction = length - whole - has_dot
    f8 = np.minimum(fraction, 8)
    int_lane = (lane << _SHIFT[whole]) | (_ZEROS & ~_HIGH[whole])
    frac_lane = (lanes[end] & _HIGH[f8]) | (_ZEROS & ~_HIGH[f8])
    second_dot = has_dot & ((frac_lane & _HIGH_NIBBLES) != _ZEROS)
    mantissa = _digits(int_lane) * _POW10_INT[f8] + _digits(frac_lane)
    np.divide(mantissa.astype(np.float64), _POW10[f8], out=out)
    np.negative(out, out=out, where=negative)
    long = (has_dot & (padded[body + whole + 8] != ord("."))) | (fraction > 8) | (mantissa >= _EXACT)
    for i in np.flatnonzero(long & ~second_dot).tolist():
        try:
            out[i] = float(text[start[i] + 1 : end[i]])
        except ValueError:  # "1.23.4567890123": a second dot beyond the lanes
            second_dot[i] = True
    return second_dot


def _digits(lane: np.ndarray) -> np.ndarray:
    """Eight digit characters (the first, most significant, in the lowest byte) → their integer value."""
    v = lane - _ZEROS
    v = v * _U64(10) + (v >> _U64(8))  # byte pairs: 10·d0 + d1, ...
    mask = _U64(0x000000FF000000FF)
    return ((v & mask) * _U64(100 + (1000000 << 32)) + ((v >> _U64(16)) & mask) * _U64(1 + (10000 << 32))) >> _U64(32)


def _read_others(document: Any, program: Program, lines: np.ndarray) -> None:
    """Fill `program` for `lines` (not plain moves) with Line's reading: G0-G3, bare coordinates, G92, G28."""
    motion = document.toolpath().motion
    for index in lines.tolist():
        line = program.line(index)
        command, words = line.command, line.words
        if command in MOVES:
            program.kind[index], program.move[index] = MOVE, int(command[1])
        elif command is None and any(words.get(axis) is not None for axis in "XYZE"):
            program.kind[index], program.move[index] = MOVE, motion[index]
        elif command == "G92":
            program.kind[index] = G92
        elif command == "G28":
            program.kind[index] = G28
            program.homes[index] = [row for row, axis in enumerate("XYZ") if axis in words] or [X, Y, Z]
        else:
            continue
        program.arc_command[index] = command in ("G2", "G3")
        for row, letter in enumerate(LETTERS):
            value = words.get(letter)
            if value is not None and row != F:
                program.row(row)[index] = value
        program.parsed[index] = line


# -- the plan -----------------------------------------------------------------------------------------


def transform(document: Any, settings: dict[str, Any], first: int, end: int) -> Plan:
    """The plan that transforms lines [first, end), with the new job; ValueError when the settings cannot
    be applied.

    The lines before `first` are read for their position, the lines from `end` on for whether they
    need E set back (`Plan.restore_e`); neither is changed. The modes are the document's.
    """
    scale = {a: _number(settings, f"scale_{a.lower()}", 1.0) for a in "XYZ"}
    offset = {a: _number(settings, f"offset_{a.lower()}", 0.0) for a in "XYZ"}
    if any(s == 0 for s in scale.values()):
        raise ValueError("Scale and translate: a scale of 0 would flatten the job; use a positive scale")
    e_factor = math.sqrt(abs(scale["X"] * scale["Y"])) * abs(scale["Z"]) if settings.get("scale_extrusion", True) else 1.0
    toolpath = document.toolpath()  # of the job as it is: the edits are made after the plan
    program = read_program(document)
    kind, n = program.kind, program.kind.size
    body = np.zeros(n, bool)
    body[first:end] = (kind[first:end] == MOVE) | (kind[first:end] == G92)
    moves = body & (kind == MOVE)
    arcs = moves & (program.move >= 2)
    centre_words = [~np.isnan(program.rows[row]) for row in (CENTRE_I, CENTRE_J, RADIUS) if row in program.rows]
    centred = arcs & np.logical_or.reduce(centre_words) if centre_words else np.zeros(n, bool)
    if centred.any() and not math.isclose(abs(scale["X"]), abs(scale["Y"])):
        index = int(np.flatnonzero(centred)[0])
        raise ValueError(
            f"Scale and translate: line {index + 1} is an arc ({program.line(index).raw.strip()}); arcs stay arcs only "
            "when X and Y are scaled alike — use the same scale_x and scale_y"
        )
    sx, sy, sz = scale["X"], scale["Y"], scale["Z"]
    relative = moves & toolpath.xyz_relative
    how = np.where(relative, SCALED, np.where(body, MOVED, 0)) + np.where(centred, CENTRED, 0)
    metric = not (toolpath.unit != 1.0).any()
    change = Change(np.array([sx, sy, sz, np.nan, np.nan, sx, sy, abs(sx)]),
                    np.array([offset["X"], offset["Y"], offset["Z"], 0, 0, 0, 0, 0]), sx * sy < 0, body,
                    how.astype(np.int8), None if metric else toolpath.unit, np.full(n, np.nan))
    plan = Plan(program)
    e_lines = np.flatnonzero(moves & ~np.isnan(program.row(E)))
    positions = _positions(program, toolpath, first, end, e_lines)
    e_new = positions["E_first"] if first < end else 0.0  # E as the transformed body counts it
    if e_factor != 1.0:
        e_new = _extrusion(program, toolpath, body, change.e, positions, e_factor, e_new)
    plan.text, plan.edits = _write(program, change)
    named = np.flatnonzero(moves)
    plan.named = {axis: named[~np.isnan(program.row(row)[named])] for row, axis in ((X, "X"), (Y, "Y"), (Z, "Z"))}
    plan.arcs = np.flatnonzero(arcs)
    e_job = positions["E_end"]
    if e_factor != 1.0 and not math.isclose(e_new, e_job, abs_tol=1e-9) and _absolute_e_follows(program, toolpath, end):
        plan.restore_e = e_job
    return plan


def _positions(program: Program, toolpath: Any, first: int, end: int, at: np.ndarray) -> dict[str, Any]:
    """The program position (X, Y, Z, E) each line of `at` finds, E after line `first - 1` and after `end - 1`."""
    kind = program.kind[:end]
    unit = toolpath.unit[:end]
    changes = np.flatnonzero(unit != np.concatenate(([1.0], unit[:-1])))
    units = [(int(i), float(unit[i - 1]) if i else 1.0, float(unit[i])) for i in changes]
    homes = np.zeros((3, end), bool)
    for line, rows in program.homes.items():
        if line < end:
            homes[rows, line] = True
    out: dict[str, Any] = {}
    for row, axis in ((X, "X"), (Y, "Y"), (Z, "Z"), (E, "E")):
        values = program.row(row)[:end]
        named = ((kind == MOVE) | (kind == G92)) & ~np.isnan(values)
        events = np.flatnonzero(named | homes[row] if row != E else named)
        relative = (toolpath.e_relative if axis == "E" else toolpath.xyz_relative)[events] & (kind[events] == MOVE)
        set_to = np.where(kind[events] == G28, 0.0, values[events])
        out[axis] = positions_after(events, set_to, relative, units, at, own_units=True)
        if axis == "E":
            first_end = positions_after(events, set_to, relative, units, np.array([first, end]))
            out["E_first"], out["E_end"] = float(first_end[0]), float(first_end[1])
    return out


def _extrusion(program: Program, toolpath: Any, body: np.ndarray, out: np.ndarray, positions: dict[str, Any],
               e_factor: float, e_new: float) -> float:
    """The E of each body move into `out`, the filament printing moves push scaled (not retracts or
    wipes); returns the body's last E. A G92 E starts both counts again from its value."""
    e = program.row(E)
    at = np.flatnonzero(body & ~np.isnan(e))
    is_move = program.kind[at] == MOVE
    moves = at[is_move]
    relative = toolpath.e_relative[moves]
    value = e[moves]
    delta = np.where(relative, value, value - positions["E"])
    relative_xyz = toolpath.xyz_relative[moves]
    moving = program.move[moves] >= 2
    for row, axis in ((X, "X"), (Y, "Y"), (Z, "Z")):
        word = program.row(row)[moves]
        target = np.where(relative_xyz, positions[axis] + word, word)
        moving |= ~np.isnan(word) & ~_isclose(target, positions[axis])
    delta = np.where((delta > 0) & moving, delta * e_factor, delta)
    steps = e[at]
    steps[is_move] = delta
    counted = running(steps, is_move, e_new)
    out[moves] = np.where(relative, delta, counted[is_move])
    return float(counted[-1]) if counted.size else e_new


def _absolute_e_follows(program: Program, toolpath: Any, end: int) -> bool:
    """Whether a move from line `end` on names an absolute E before a G92 E starts the count again."""
    kind = program.kind[end:]
    named = ~np.isnan(program.row(E)[end:])
    absolute = (kind == MOVE) & ~toolpath.e_relative[end:]
    decisive = np.flatnonzero(named & ((kind == G92) | absolute))
    return bool(decisive.size) and kind[decisive[0]] == MOVE


def _isclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """math.isclose(a, b, abs_tol=1e-9) for arrays, comparison for comparison."""
    with np.errstate(invalid="ignore"):
        diff = np.abs(b - a)
        near = (diff <= np.abs(1e-9 * b)) | (diff <= np.abs(1e-9 * a)) | (diff <= 1e-9)
        return (a == b) | (near & np.isfinite(a) & np.isfinite(b))


# -- writing ------------------------------------------------------------------------------------------


def _write(program: Program, change: Change) -> tuple[bytes | None, int]:
    """The new job and how many lines change in it (None and 0 when none does)."""
    out: list[bytes] = []
    edits = 0
    for lo, hi, words in program.chunks:
        text, count = _write_chunk(program, change, lo, hi, words)
        out.append(text)
        edits += count
    return (b"".join(out) if edits else None), edits


def _write_chunk(program: Program, change: Change, lo: int, hi: int, words: Words) -> tuple[bytes, int]:
    """Lines [lo, hi) with the words that change rewritten, and how many lines that is."""
    new = change.new(words.row, words.line, words.value)
    changed = ~np.isnan(new) & ~_isclose(new, words.value)
    edited = change.mirror & program.arc_command[lo:hi] & change.body[lo:hi]
    edited[words.line[changed] - lo] = True
    others: dict[int, bytes] = {}  # the lines Line rewrites (not plain moves), ending included
    for index in (lo + np.flatnonzero(~program.plain[lo:hi] & change.body[lo:hi])).tolist():
        line = program.parsed[index]
        made = _rewrite(line, _changes(program, change, index), change.mirror)
        if made is not None:
            edited[index - lo] = True
            others[index] = (made.raw + made.ending).encode("utf-8", "surrogateescape")
    if not edited.any():
        return program.data[int(program.offsets[lo]) : int(program.offsets[hi])], 0
    rewritten = program.plain[words.line] & edited[words.line - lo]
    plain_words = Words(words.line[rewritten], words.row[rewritten], np.where(changed, new, words.value)[rewritten])
    return _write_lines(program, lo, hi, edited, plain_words, others, change.mirror), int(edited.sum())


def _write_lines(program: Program, lo: int, hi: int, edited: np.ndarray, words: Words, others: dict[int, bytes],
                 mirror: bool) -> bytes:
    """Lines [lo, hi) with the `edited` ones written as `Line.with_words` writes a line ("G1 X10 Y5 ; c"):
    plain moves from their `words` (new values), the others as made by Line.

    Plain moves are written with numpy: each word is a row of a character table (" X-12.345", the
    whole part right-aligned on the dot), and the lines are one gather of byte ranges from the old
    lines, that table and the few pieces made in Python (comments, the lines Line made).
    """
    data, offsets = program.data, program.offsets
    start, stop = int(offsets[lo]), int(offsets[hi])
    lines = lo + np.flatnonzero(edited)
    column_of = np.cumsum(edited) - 1  # chunk line → its place among the rewritten lines
    plain = program.plain[lines]
    pieces = list(others.values())
    line_piece = np.full(lines.size, -1, np.int64)
    line_piece[column_of[np.array(list(others), np.int64) - lo]] = np.arange(len(pieces))
    commented = plain & (program.code_end[lines] < program.content_end[lines])
    comment_piece = np.full(lines.size, -1, np.int64)
    for k in np.flatnonzero(commented).tolist():
        index = int(lines[k])
        comment = data[int(program.code_end[index]) + 1 : int(program.content_end[index])].decode("utf-8", "surrogateescape")
        comment_piece[k] = len(pieces)
        pieces.append(b" ; " + comment.strip().encode("utf-8", "surrogateescape"))
    column = column_of[words.line - lo]
    table, word_source, word_size = _word_table(words.row, words.value, pieces)

    # The pool: the old lines, the commands, the table, the pieces.
    piece_size = np.array([len(p) for p in pieces], np.int64)
    piece_at = np.concatenate(([0], np.cumsum(piece_size))).astype(np.int64)
    table_at = stop - start + len(_COMMANDS)
    pieces_at = table_at + table.size
    pool = np.concatenate((np.frombuffer(data, np.uint8, stop - start, start), np.frombuffer(_COMMANDS, np.uint8),
                           table, np.frombuffer(b"".join(pieces), np.uint8)))
    in_pieces = word_source < 0
    word_source = word_source + table_at
    word_source[in_pieces] = pieces_at + piece_at[table_at - word_source[in_pieces] - 1]
    # Units in line order, each one or more ranges of the pool: a run of unchanged lines; a plain move
    # (its command, words, comment and ending); a line Line made.
    is_unit = edited.copy()
    is_unit[1:] |= edited[:-1]
    is_unit[0] = True
    unit_line = lo + np.flatnonzero(is_unit)
    unit_edited = edited[unit_line - lo]
    word_count = np.bincount(column, minlength=lines.size)
    size = np.ones(unit_line.size, np.int64)
    size[unit_edited] = np.where(plain, 2 + word_count + commented, 1)
    first = np.concatenate(([0], np.cumsum(size)[:-1]))
    source = np.zeros(int(size.sum()), np.int64)
    length = np.zeros(source.size, np.int64)
    run, base = first[~unit_edited], first[unit_edited]
    run_line = unit_line[~unit_edited]
    source[run] = offsets[run_line] - start
    length[run] = offsets[np.append(unit_line[1:], hi)[~unit_edited]] - offsets[run_line]
    source[base[~plain]] = pieces_at + piece_at[line_piece[~plain]]
    length[base[~plain]] = piece_size[line_piece[~plain]]
    move = program.move[lines].astype(np.int64)
    if mirror:  # a mirror turns clockwise into counter-clockwise: G2 and G3 swap
        move = np.where(move >= 2, 5 - move, move)
    source[base[plain]] = stop - start + 2 * move[plain]
    length[base[plain]] = 2
    group = np.concatenate(([0], np.cumsum(word_count)[:-1]))
    place = base[column] + 1 + np.arange(column.size) - np.repeat(group, word_count)
    source[place], length[place] = word_source, word_size
    after = base + 1 + word_count
    source[after[commented]] = pieces_at + piece_at[comment_piece[commented]]
    length[after[commented]] = piece_size[comment_piece[commented]]
    ending = (after + commented)[plain]
    source[ending] = program.content_end[lines[plain]] - start
    length[ending] = offsets[lines[plain] + 1] - program.content_end[lines[plain]]
    out_start = np.concatenate(([0], np.cumsum(length)[:-1]))
    take = np.repeat((source - out_start).astype(np.int32), length)  # a chunk's pool is far below 2**31
    take += np.arange(take.size, dtype=np.int32)
    return pool[take].tobytes()


def _changes(program: Program, change: Change, index: int) -> dict[str, float]:
    """The words of line `index` (one `Line` reads) that change, with their new values."""
    rows = np.array([row for row in program.rows if not math.isnan(program.rows[row][index])], np.int64)
    value = np.array([program.rows[row][index] for row in rows.tolist()])
    new = change.new(rows, np.full(rows.size, index), value)
    keep = ~np.isnan(new) & ~_isclose(new, value)
    return {LETTERS[row]: float(v) for row, v in zip(rows[keep].tolist(), new[keep].tolist(), strict=True)}


def _rewrite(line: Line, changes: dict[str, float], mirror: bool) -> Line | None:
    """The line with `changes`, a mirror's G2/G3 swapped; None when nothing changes."""
    if mirror and line.command in ("G2", "G3"):
        # A mirror turns clockwise into counter-clockwise: G2 and G3 swap.
        comment = line.comment
        made = Line.make("G3" if line.command == "G2" else "G2", {**line.words, **changes},
                         comment.strip() if comment is not None else None)
        return Line(made.raw, line.ending)
    return line.with_words(**changes) if changes else None


def _word_table(row: np.ndarray, value: np.ndarray, pieces: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each word (" X-12.345", the value as format_number writes it) as a range of a character table:
    (the table's bytes, where each word starts, its length). A word format_number must write itself
    (not finite, or more than 6 characters before the dot) is put in `pieces` instead; its start is
    then -1 - its piece.

    A word is two lanes of the table: the first ends with " X-12" (space, letter, sign, whole part),
    the second holds ".34500"; the word is the bytes from its space to its last kept fraction digit.
    """
    negative, whole, fraction, here = _format(value)
    whole_size = np.ones(value.size, np.int64)
    for power in range(1, 7):  # up to 7: one more than a lane holds
        whole_size += whole >= 10**power
    head = 2 + negative + whole_size  # " X-12"
    here &= head <= 8
    whole, head = np.where(here, whole, 0), np.minimum(head, 8)
    digits = (_DIGITS3.take(whole // 1000) << _U64(16)) | (_DIGITS3.take(whole % 1000) << _U64(40))
    prefix = _U64(ord(" ")) | (_LETTER_BYTE.take(row) << _U64(8)) | np.where(negative, _U64(ord("-") << 16), _U64(0))
    table = np.empty((value.size, 2), np.uint64)
    table[:, 0] = (digits & _HIGH[whole_size]) | (prefix << (_U64(8) * (_U64(8) - head.astype(np.uint64))))
    table[:, 1] = _FRACTION_LANE.take(fraction)
    source = np.arange(value.size, dtype=np.int64) * 16 + 8 - head
    size = head + _FRACTION_SIZE[fraction]
    for k in np.flatnonzero(~here).tolist():
        source[k] = -1 - len(pieces)
        pieces.append(f" {LETTERS[row[k]]}{format_number(float(value[k]))}".encode())
        size[k] = len(pieces[-1])
    return table.view(np.uint8).reshape(-1), source, size


def _format(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """format_number for many values: (negative, whole part, fraction in 1e-5, whether written here).

    f"{v:.5f}" rounds the exact binary value, half to even. v·1e5 is computed with its rounding error
    (Dekker's product, exact since 1e5 has 17 bits), so a product that lands on .5 is rounded by the
    sign of that error, as the exact value would be. Values that are not finite or reach 1e10 are
    left to format_number.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        product = values * 1e5
        split = values * 134217729.0  # 2**27 + 1: Veltkamp's split into two 26-bit halves
        high = split - (split - values)
        error = (high * 1e5 - product) + (values - high) * 1e5  # values·1e5 == product + error, exactly
        rounded = np.rint(product)
        tie = (product - np.floor(product) == 0.5) & (error != 0)
        rounded[tie] = np.floor(product[tie]) + (error[tie] > 0)
        here = np.abs(product) < 1e15
    n = np.where(here, rounded, 0).astype(np.int64)
    whole, fraction = np.divmod(np.abs(n), 100_000)
    return n < 0, whole, fraction, here


# -- checking and running -----------------------------------------------------------------------------


def measure(document: Any, plan: Plan, bed: dict[str, float] | None) -> Extent:
    """Where the transformed moves take the head, as the document model reads them (machine mm).

    Only the axes a move names count (a Z move does not re-check an X the start G-code left), plus
    the whole sweep of arcs.
    """
    toolpath = document.toolpath()
    extent = Extent()
    for axis, values in (("X", toolpath.x), ("Y", toolpath.y), ("Z", toolpath.z)):
        lines = plan.named.get(axis, np.zeros(0, np.int64))
        extent.add(axis, lines, values[lines], bed)
    sweeps = [(index, toolpath.arcs[index]) for index in plan.arcs.tolist() if index in toolpath.arcs]
    if sweeps:
        lines = np.concatenate([np.full(len(points), index) for index, points in sweeps])
        points = np.concatenate([points for _, points in sweeps])
        extent.add("X", lines, points[:, 0], bed)
        extent.add("Y", lines, points[:, 1], bed)
    return extent


def scale_translate(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Transform the job (or its print body); nothing changes unless the whole result fits the bed."""
    body = print_body(document) if settings.get("only_body", True) else None
    first, end = body if body is not None else (0, len(document))
    plan = transform(document, settings, first, end)
    bed = None
    if settings.get("check_bed", True):
        bed = {a: _number(settings, f"bed_{n}", d) for a, n, d in (("X", "x", 220), ("Y", "y", 220), ("Z", "z", 250))}
    with document.step("Scale and translate"):
        if plan.text is not None:
            document.assign(plan.text, "Scale and translate")
        extent = measure(document, plan, bed)
        if bed is not None and extent.first_outside is not None:
            index, axis = extent.first_outside
            raise ValueError(  # the step rolls the edits back
                f"Scale and translate: the result does not fit the bed: {axis} would span "
                f"{extent.low[axis]:.2f}..{extent.high[axis]:.2f} mm but the bed is 0..{bed[axis]:g} mm "
                f"(first outside: line {index + 1}: {plan.program.line(index).raw.strip()}). Change the scale or "
                "offsets, or the bed size."
            )
        if plan.restore_e is not None:
            document.insert(end, f"G92 E{format_number(plan.restore_e)} ; scriptdeck: the E the end G-code was written for")
    spans = ", ".join(
        f"{a} {extent.low[a]:.2f}..{extent.high[a]:.2f}" for a in "XYZ" if extent.low[a] <= extent.high[a]
    )
    if body is None:
        window.information(f"{plan.edits} lines transformed; the job now spans {spans or 'nothing'} mm")
    else:
        window.information(f"{plan.edits} lines of the print body (lines {first + 1}-{end}) transformed, start and "
                           f"end G-code unchanged; the part now spans {spans or 'nothing'} mm")
