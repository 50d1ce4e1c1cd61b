"""Vectorised scan of a whole G-code buffer into per-line arrays: command and X/Y/Z/E/F values.

Parsing a million lines one by one in Python costs seconds; this pass does the same with numpy. It is
deliberately narrow: only the first G/M/T word of each line and the five words motion needs. Everything
rarer (arcs, dwells, M204, tool numbers, homing axes) is re-read with the exact per-line parser in
``lines.py``.

Words are read as Marlin's ``GCodeParser::parse`` reads them: a letter, optional spaces, the value
("G 91", "G1 X 10"). A line's modes come from its command alone (see ``_scan_chunk``).

How it stays fast (about 0.45 s of CPU for 30 MB, one thread):

* The buffer is cut into 256 KiB chunks at line breaks, so every temporary lives in the CPU cache:
  whole-buffer temporaries of 30 MB each cost more in page faults and memory traffic than the
  arithmetic itself.
* Per byte, only a handful of comparisons: which bytes are number characters, where the runs of
  them start and end. Everything else is per *word*, and only for the letters we need.
* A word's value is read eight bytes at a time (SWAR): an unaligned ``uint64`` view of the chunk
  gathers the integer part and the fraction as two 64-bit lanes, which the classic
  "eight digits in three multiplications" trick turns into integers. ``mantissa / 10**fraction_digits``
  with both exactly representable is one correctly rounded division: the same double as ``float()``.
  Words with more than 8 digits on either side of the dot, or 16 significant digits, and malformed
  ones ("1.2.3", "4-2": NaN) are rare and go through ``float()`` itself. (The scanner before this one
  summed digits in floating point: identical up to 15 significant digits, approximate beyond.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AXES", "Scan", "scan"]

AXES = "XYZEF"
_CHUNK = 1 << 18  # bytes per chunk: its temporaries (a few bytes per input byte) stay in L2/L3
_HEAP_BLOCK = 8 << 20  # see _keep_temporaries_on_the_heap: above any chunk's temporaries

# Letter byte → 1..8 for G, M, T, X, Y, Z, E, F (either case); 0 for every other byte.
_WANTED = "GMTXYZEF"
_CODE = np.zeros(256, np.uint8)
for _i, _ch in enumerate(_WANTED, 1):
    _CODE[ord(_ch)] = _CODE[ord(_ch.lower())] = _i
_IS_LETTER = np.zeros(256, bool)
_IS_LETTER[65:91] = _IS_LETTER[97:123] = True
_CMD_CODES = 3  # codes 1..3 are the command letters G, M, T
_MODAL = frozenset({"G20", "G21", "G90", "G91", "M82", "M83"})
_LETTER_BYTES = np.frombuffer(b"\0" + _WANTED.encode(), np.uint8)  # code → letter byte

_U64 = np.uint64
_ONES = 0x0101010101010101
_ZEROS_CHAR = _U64(0x30 * _ONES)  # eight "0" characters
_HIGH_NIBBLES = _U64(0xF0 * _ONES)
# _LOW[k]: the low k bytes of a lane; _HIGH[k]: the high k bytes (k = 0..8).
_LOW = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)
_HIGH = np.array([((1 << 64) - 1) ^ ((1 << (8 * (8 - k))) - 1) for k in range(9)], np.uint64)
_FILL_ABOVE = _ZEROS_CHAR & ~_LOW  # "0" in all bytes but the low k
_FILL_BELOW = _ZEROS_CHAR & _LOW[::-1].copy()  # "0" in all bytes but the high k
_SHIFT = np.array([8 * (8 - k) for k in range(9)], np.uint64)  # moves the low k bytes to the top
_POW10_INT = np.array([10**k for k in range(9)], np.uint64)
_POW10 = 10.0 ** np.arange(9)
_EXACT = _U64(1 << 53)  # integers below this are exact doubles


@dataclass
class Scan:
    """Per-line arrays (length = number of lines). Missing values are NaN; no command is letter 0."""

    lines: int
    letter: np.ndarray  # uint8: ord("G"), ord("M"), ord("T") or 0
    number: np.ndarray  # float64: the command's number (1.0 for G1), NaN without command
    values: dict[str, np.ndarray]  # "X", "Y", "Z", "E", "F" → float64
    modal: list[tuple[int, str]]  # (line, "G90"...) for every line whose command is G20/G21/G90/G91/M82/M83
    newlines: np.ndarray  # byte offset of every "\n"


def _chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte ranges of about ``_CHUNK`` bytes, each ending just after a line break."""
    jobs = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + _CHUNK) + 1 if start + _CHUNK < len(data) else len(data)
        if end <= start:  # one line longer than a chunk: take it whole
            end = data.find(b"\n", start + _CHUNK) + 1 or len(data)
        jobs.append((start, end))
        start = end
    return jobs


def _keep_temporaries_on_the_heap() -> None:
    """Free one untouched 8 MiB block so glibc stops handing out the chunks' temporaries as fresh pages.

    glibc serves blocks above its mmap threshold (128 KiB at first) with mmap and returns heap memory
    above its trim threshold to the system; the chunk loop allocates and frees a few hundred KiB-sized
    temporaries per chunk, so every chunk page-faulted them in again: ~130,000 faults, a third of a
    second of system time. Freeing an mmapped block raises both thresholds to its size (glibc's own
    dynamic tuning), after which the temporaries are recycled from the heap. The block is never
    written, so it costs no memory; other allocators ignore it.
    """
    block = np.empty(_HEAP_BLOCK, np.uint8)
    del block


def scan(data: bytes) -> Scan:
    """Scan ``data``; lines are split at ``\\n`` exactly as ``GcodeDocument`` splits them."""
    _keep_temporaries_on_the_heap()
    jobs = _chunks(data)
    # Line number of each chunk's first line: bytes.count is a memchr loop, far cheaper than the scan.
    counts = [data.count(b"\n", s, e) for s, e in jobs]
    line0 = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
    newline_count = int(line0[-1])
    lines = newline_count + (1 if data and not data.endswith(b"\n") else 0)
    letter = np.zeros(lines, np.uint8)
    number = np.full(lines, np.nan)
    table = np.full((len(AXES), lines), np.nan)
    values = {axis: table[k] for k, axis in enumerate(AXES)}
    newlines = np.empty(newline_count, np.int64)
    modal: list[tuple[int, str]] = []
    buffer = np.frombuffer(data, dtype=np.uint8)

    # One thread: two (numpy releases the GIL in its loops) saved ~10% of wall time on an idle 2-core
    # machine for ~30% more CPU, and nothing at all once other processes keep the cores busy.
    for k, (start, end) in enumerate(jobs):
        _scan_chunk(buffer[start:end], start, int(line0[k]), letter, number, table, modal, newlines)
    return Scan(lines, letter, number, values, modal, newlines)


def _scan_chunk(
    a: np.ndarray,
    offset: int,
    line0: int,
    letter: np.ndarray,
    number: np.ndarray,
    table: np.ndarray,
    modal: list[tuple[int, str]],
    newlines_out: np.ndarray,
) -> None:
    n = a.size
    nl = np.flatnonzero(a == 10)
    newlines_out[line0 : line0 + nl.size] = nl + offset
    # A padded copy with 8 zero bytes on each side: lanes near the chunk's edges read zeros, never
    # outside the array. ``ends_at[k]`` holds a[k-8:k] and ``starts_at[k]`` holds a[k:k+8], as little-endian
    # uint64 (numpy allows the unaligned stride of 1 byte); ``pad[k + 8]`` is a[k], 0 before the chunk.
    pad = np.zeros(n + 16, np.uint8)
    pad[8 : 8 + n] = a
    ends_at = np.ndarray((n + 9,), "<u8", pad, 0, (1,))
    starts_at = ends_at[8:]

    # Runs of number characters [0-9.+-]; a run is a word's value when a letter (outside comments, and
    # not itself preceded by a letter, so "Layer5" in a message is no word) sits before it, right
    # before or across spaces ("G 91": Marlin skips spaces between a letter and its value).
    numeric = (a - 48) < 10  # uint8 arithmetic wraps, so this is "is a digit"
    numeric |= a == 46
    numeric |= a == 45
    numeric |= a == 43
    edges = np.flatnonzero(numeric[1:] != numeric[:-1]) + 1
    if n and numeric[0]:
        edges = np.concatenate(([0], edges))
    if n and numeric[-1]:
        edges = np.append(edges, n)
    del numeric
    # int32 positions: a chunk is small, and half-width indices make every later step cheaper.
    starts, ends = edges[0::2].astype(np.int32), edges[1::2].astype(np.int32)
    at = starts - 1  # the letters
    before = pad[starts + 7]  # the byte before the run (0 before the chunk: no letter)
    # Few values follow a space (numbers in comments and messages, the odd "G 91"): only those walk back.
    spaced = np.flatnonzero(before == 32)
    if spaced.size:
        at[spaced] = _before_spaces(pad, at[spaced])
        before[spaced] = pad[at[spaced] + 8]
    codes = _CODE[before]
    keep = (codes > 0) & ~_IS_LETTER[pad[at + 7]]  # only the letters we need: others are never parsed
    starts, ends, codes, at = starts[keep], ends[keep], codes[keep], at[keep]
    if not starts.size:
        return
    local = _line_of(nl.astype(np.int32), at)
    keep = ~_in_comment(a, nl, at, local)
    if not keep.all():
        starts, ends, codes, at, local = starts[keep], ends[keep], codes[keep], at[keep], local[keep]
    value = _values(a, pad, starts, ends, ends_at, starts_at)
    line = local.astype(np.int64) + line0  # a chunk's lines fit int32, a whole file's need not

    is_cmd = codes <= _CMD_CODES
    cmd_line, cmd_codes, cmd_values = line[is_cmd], codes[is_cmd], value[is_cmd]
    if cmd_line.size:
        first = np.ones(cmd_line.size, bool)
        first[1:] = cmd_line[1:] != cmd_line[:-1]
        cmd_line, cmd_codes, cmd_values = cmd_line[first], cmd_codes[first], cmd_values[first]
        letter[cmd_line] = _LETTER_BYTES[cmd_codes]
        number[cmd_line] = cmd_values
        # Modes come from the line's command only. Marlin's GCodeParser::parse executes one command per
        # line, its first word; every later word, G and M ones included, is a parameter of it. So
        # "G91 G90" is G91, "M83 M82" is M83, "G1 X5 G91" switches nothing, and the text of M117 and
        # the like holds no command. Two comparisons find the few candidates; lines stay in order.
        for i in np.flatnonzero((cmd_values >= 20.0) & (cmd_values <= 91.0)).tolist():
            name = f"{_WANTED[cmd_codes[i] - 1]}{cmd_values[i]:g}"
            if name in _MODAL:
                modal.append((int(cmd_line[i]), name))
    # One scatter into the (axis, line) table for all five axes. Several words of one letter on a line:
    # numpy assigns in order, so the last one wins (as in Line).
    axis = ~is_cmd
    table[codes[axis] - (_CMD_CODES + 1), line[axis]] = value[axis]


def _before_spaces(pad: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For chunk positions ``at`` that hold a space: the nearest position before each that holds none
    (-1 before the chunk, where ``pad`` holds zeros)."""
    at = at - 1
    for _ in range(4):  # a space or two is what people write: a few steps cover them
        more = np.flatnonzero(pad[at + 8] == 32)
        if not more.size:
            return at
        at[more] -= 1
    # Long runs of spaces: find the last other byte directly rather than step once per space.
    other = np.flatnonzero(pad != 32) - 8
    return other[np.searchsorted(other, at, side="right") - 1]


def _line_of(nl: np.ndarray, at: np.ndarray) -> np.ndarray:
    """How many newlines precede each position (both sorted): merging two sorted runs (a stable sort
    finds them and does one linear merge) is about three times faster than a binary search per word."""
    merged = np.argsort(np.concatenate((nl, at)), kind="stable")
    is_newline = merged < nl.size
    return np.cumsum(is_newline, dtype=np.int32)[~is_newline]


def _in_comment(a: np.ndarray, nl: np.ndarray, at: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Whether each position ``at`` (on chunk line ``line``) lies in a comment: ";" to the end of its
    line, "(" to ")" or the end of the line."""
    semis = np.flatnonzero(a == 59)
    opens = np.flatnonzero(a == 40)
    inside = np.zeros(at.size, bool)
    if semis.size:
        # Past the first ";" of its line (semis are in order: assigning backwards keeps the first).
        first = np.full(nl.size + 1, a.size, np.int64)
        first[np.searchsorted(nl, semis)[::-1]] = semis[::-1]
        inside |= at > first[line]
    if opens.size:
        # Parentheses are rare (CNC output): an exact interval test, only for words after a "(".
        first = np.full(nl.size + 1, a.size, np.int64)
        first[np.searchsorted(nl, opens)[::-1]] = opens[::-1]
        check = np.flatnonzero(~inside & (at > first[line]))
        if check.size:
            eol = np.append(nl, a.size)
            closes = np.append(np.flatnonzero(a == 41), a.size - 1)
            stop = np.minimum(closes[np.searchsorted(closes, opens)] + 1, eol[np.searchsorted(nl, opens)])
            reach = np.maximum.accumulate(stop)  # parenthesised comments may overlap: "( a ( b ) c"
            k = np.searchsorted(opens, at[check], side="right") - 1
            inside[check] = (k >= 0) & (reach[np.maximum(k, 0)] > at[check])
    return inside


def _digits(lane: np.ndarray) -> np.ndarray:
    """Eight digit characters (first = most significant, in the lowest byte) → their integer value."""
    v = lane - _ZEROS_CHAR
    v = v * _U64(10) + (v >> _U64(8))
    mask = _U64(0x000000FF000000FF)
    v = ((v & mask) * _U64(100 + (1000000 << 32)) + ((v >> _U64(16)) & mask) * _U64(1 + (10000 << 32))) >> _U64(32)
    return v


def _values(
    a: np.ndarray, pad: np.ndarray, starts: np.ndarray, ends: np.ndarray, ends_at: np.ndarray, starts_at: np.ndarray
) -> np.ndarray:
    """The value of each run a[starts:ends] of number characters, exactly as ``float()``; NaN if malformed.

    Well-formed is: an optional sign in front, digits with at most one dot, at least one digit. The
    fast path takes words with at most 8 digits each side of the dot; the others (and malformed ones,
    which are rare) go through ``float()``.
    """
    first = a[starts]
    negative = first == 45
    body = starts + (negative | (first == 43))
    length = ends - body  # characters after the sign
    k = np.minimum(length, 8)
    # The first 8 characters, bytes past the run made "0". Then any byte whose high nibble is not 3 is
    # no digit; inside a run the only such bytes are "." "+" "-", and the first must be the dot.
    lane = (starts_at.take(body) & _LOW[k]) | _FILL_ABOVE[k]  # take: faster than [] on a strided view
    other = (lane & _HIGH_NIBBLES) ^ _ZEROS_CHAR
    lowest = other & (_U64(0) - other)  # lowest set bit (two's complement); 0 when all are digits
    column = (np.bitwise_count(lowest - _U64(1)) >> _U64(3)).astype(np.int32)  # 8 when all are digits
    whole = np.minimum(column, length)  # digits before the dot (all of them without one)
    has_dot = whole < length
    fraction = length - whole - has_dot
    # Not a dot there (a sign inside, or a 9th integer digit), or a long fraction: float() decides.
    slow = (has_dot & (pad[body + whole + 8] != 46)) | (fraction > 8)
    f8 = np.minimum(fraction, 8)
    int_lane = (lane << _SHIFT[whole]) | _FILL_BELOW[whole]  # integer digits moved to the top
    frac_lane = (ends_at.take(ends) & _HIGH[f8]) | _FILL_BELOW[f8]  # the 8 bytes ending the run, masked
    slow |= (frac_lane & _HIGH_NIBBLES) != _ZEROS_CHAR  # a second dot or a sign in the fraction
    mantissa = _digits(int_lane) * _POW10_INT[f8] + _digits(frac_lane)
    slow |= mantissa >= _EXACT  # 16 significant digits: not exact as a double, let float() round
    value = mantissa.astype(np.float64) / _POW10[f8]
    np.negative(value, out=value, where=negative)
    value[whole + fraction == 0] = np.nan  # no digit at all: "-", "."
    for i in np.flatnonzero(slow).tolist():
        value[i] = _slow_value(a[starts[i] : ends[i]].tobytes())
    return value


def _slow_value(text: bytes) -> float:
    """A long number: ``float()`` applies the same rules to a run of [0-9.+-] (one sign in front, one dot)."""
    if sum(c.isdigit() for c in text.decode()) >= 40:
        return float("nan")  # absurdly long: treated as malformed, like any parser with a length limit
    try:
        return float(text)
    except ValueError:
        return float("nan")
