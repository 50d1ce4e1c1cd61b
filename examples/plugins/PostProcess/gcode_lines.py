"""Plain moves in bulk: a job's lines read into numpy arrays, and written back as G-code text.

A sliced job is nearly all plain moves (`G1 X12.5 Y3 E0.0421`): "G0"-"G3", then words of LETTERS
separated by spaces, then an optional ";" comment. `read_program` reads every line's command and
words into per-line arrays — plain moves with numpy, in chunks of about 512 KiB (temporaries that
stay in the cache and are reused: fresh memory costs more than the arithmetic), and the other lines
that matter (G92, G28, bare coordinates, unusual spellings) with `Line`, one by one. `write_lines`
writes changed plain moves back as `Line.with_words` would. Both are `Line`'s and `format_number`'s
work step for step (numbers are read as float() reads them and rounded as format_number rounds
them), so a job read and written here is the same byte for byte as one handled line by line.
scale_translate.py changes the values in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scriptdeck.document import Line, format_number

from .gcode_state import MOVES

LETTERS = "XYZEFIJR"  # the words a plain move may hold; a word's row is its place here
X, Y, Z, E, F, CENTRE_I, CENTRE_J, RADIUS = range(8)
OTHER, MOVE, G92, G28 = range(4)  # Program.kind
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
class Words:
    """Words of plain moves, in file order: the line, the row (place in LETTERS) and the value of each."""

    line: np.ndarray
    row: np.ndarray
    value: np.ndarray


@dataclass
class Program:
    """What a transform reads of every line. Per-line arrays; a word's value is NaN where it is absent."""

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


# -- reading ------------------------------------------------------------------------------------------


def read_program(document: Any) -> Program:
    """Every line's command and words: plain moves with numpy, the other moves, G92 and G28 with `Line`.

    Comments, blank lines and M/T commands are skipped: nothing a transform reads is on them.
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
        if command is not None and command in MOVES:
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


# -- writing ------------------------------------------------------------------------------------------


def write_lines(program: Program, lo: int, hi: int, edited: np.ndarray, words: Words, others: dict[int, bytes],
                mirror: bool) -> bytes:
    """Lines [lo, hi) with the `edited` ones written as `Line.with_words` writes a line ("G1 X10 Y5 ; c"):
    plain moves from their `words` (new values; G2 and G3 swapped when `mirror`), the others as made
    by Line (`others`: line index → its bytes, ending included).

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
