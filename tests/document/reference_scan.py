"""The scanner as it was before the SWAR rewrite: a reference for equivalence tests.

Two rules changed since, here as in ``scan.py``: a letter may stand spaces before its value ("G 91",
as Marlin reads it), and a line's modes come from its command alone (Marlin executes the first word;
"G91 G90" is G91).

Vectorised scan of a whole G-code buffer into per-line arrays: command and X/Y/Z/E/F values.

Parsing a million lines one by one in Python costs seconds; this pass does the same with numpy over
1 MiB chunks (so temporaries stay small), in about 0.1 µs per byte. It is deliberately narrow: only
the first G/M/T word of each line and the five words motion needs. Everything rarer (arcs, dwells,
M204, tool numbers, homing axes) is re-read with the exact per-line parser in ``lines.py``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["AXES", "Scan", "scan"]

AXES = "XYZEF"
_CHUNK = 1 << 18  # small chunks: each thread's temporaries stay ~15 MB and in cache
_THREADS = min(4, os.cpu_count() or 1)
_POW10 = 10.0 ** np.arange(0, 40, dtype=np.float64)
_G, _M, _T = ord("G"), ord("M"), ord("T")


@dataclass
class Scan:
    """Per-line arrays (length = number of lines). Missing values are NaN; no command is letter 0."""

    lines: int
    letter: np.ndarray  # uint8: ord("G"), ord("M"), ord("T") or 0
    number: np.ndarray  # float64: the command's number (1.0 for G1), NaN without command
    values: dict[str, np.ndarray]  # "X", "Y", "Z", "E", "F" → float64
    modal: list[tuple[int, str]]  # (line, "G90"...) for every G20/G21/G90/G91/M82/M83 word, any position
    newlines: np.ndarray  # byte offset of every "\n"


def _newlines(data: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


def scan(data: bytes) -> Scan:
    """Scan ``data``; lines are split at ``\\n`` exactly as ``GcodeDocument`` splits them."""
    newlines = _newlines(data)
    lines = len(newlines) + (1 if data and not data.endswith(b"\n") else 0)
    letter = np.zeros(lines, np.uint8)
    number = np.full(lines, np.nan)
    values = {axis: np.full(lines, np.nan) for axis in AXES}
    modal: list[tuple[int, str]] = []
    buffer = np.frombuffer(data, dtype=np.uint8)
    jobs: list[tuple[int, int]] = []
    start = 0
    while start < len(data):
        # Cut chunks just after a newline so no line straddles two chunks.
        cut = int(np.searchsorted(newlines, start + _CHUNK))
        end = int(newlines[cut - 1]) + 1 if cut and newlines[cut - 1] >= start else len(data)
        jobs.append((start, end))
        start = end

    def run(job: tuple[int, int]) -> None:
        first_nl = int(np.searchsorted(newlines, job[0]))
        last_nl = int(np.searchsorted(newlines, job[1]))
        _scan_chunk(buffer[job[0] : job[1]], newlines[first_nl:last_nl] - job[0], first_nl, letter, number, values, modal)

    # numpy releases the GIL inside its loops, so two threads use both cores of a small machine;
    # each chunk writes a disjoint range of lines.
    if len(jobs) > 1 and _THREADS > 1:
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(run, jobs))
    else:
        for job in jobs:
            run(job)
    modal.sort()
    return Scan(lines, letter, number, values, modal, newlines)


def _scan_chunk(
    a: np.ndarray,
    nl: np.ndarray,
    line0: int,
    letter: np.ndarray,
    number: np.ndarray,
    values: dict[str, np.ndarray],
    modal: list[tuple[int, str]],
) -> None:
    n = a.size
    depth = np.zeros(n + 1, np.int32)
    # ";" comments run to the end of their line; "(" comments to ")" or the end of the line.
    eol = np.append(nl, n)  # end of the line holding position p: eol[searchsorted(nl, p)]
    semis = np.flatnonzero(a == 59)
    if semis.size:
        np.add.at(depth, semis, 1)
        np.add.at(depth, eol[np.searchsorted(nl, semis)], -1)
    opens = np.flatnonzero(a == 40)
    if opens.size:
        closes = np.append(np.flatnonzero(a == 41), n - 1)
        close_end = closes[np.searchsorted(closes, opens)] + 1
        np.add.at(depth, opens, 1)
        np.add.at(depth, np.minimum(close_end, eol[np.searchsorted(nl, opens)]), -1)
    in_comment = np.cumsum(depth[:n], dtype=np.int32) > 0 if (semis.size or opens.size) else np.zeros(n, bool)

    upper = a & 0xDF
    is_letter = (upper >= 65) & (upper <= 90)
    is_digit = (a >= 48) & (a <= 57)
    is_numchar = is_digit | (a == 46) | (a == 45) | (a == 43)
    # Runs of number characters; a run is a word's value when a letter (outside comments, and not
    # itself preceded by a letter, so "Layer5" in a message is no word) sits right before it.
    prev = np.empty(n, bool)
    prev[0] = False
    prev[1:] = is_numchar[:-1]
    nxt = np.empty(n, bool)
    nxt[-1] = False
    nxt[:-1] = is_numchar[1:]
    starts = np.flatnonzero(is_numchar & ~prev)
    ends = np.flatnonzero(is_numchar & ~nxt) + 1
    solid = np.flatnonzero(a != 32)  # the letter is the last byte before the run that is no space
    k = np.searchsorted(solid, starts) - 1
    ok = k >= 0
    before = solid[np.maximum(k, 0)]
    ok &= is_letter[before] & ~in_comment[before]
    before2 = np.maximum(before - 1, 0)
    ok &= (before < 1) | ~is_letter[before2]
    starts, ends = starts[ok], ends[ok]
    if not starts.size:
        return
    letters = upper[before[ok]]

    # Validate each run cheaply with prefix sums: one or no dot, a sign only in front, a digit.
    def count(mask: np.ndarray) -> np.ndarray:
        c = np.zeros(n + 1, np.int32)
        np.cumsum(mask, out=c[1:])
        return c

    digits_c = count(is_digit)
    dots_c = count(a == 46)
    signs_c = count((a == 45) | (a == 43))
    n_digits = digits_c[ends] - digits_c[starts]
    valid = (n_digits > 0) & (dots_c[ends] - dots_c[starts] <= 1) & (signs_c[ends] - signs_c[starts + 1] == 0)
    valid &= n_digits < 40

    # Value = integer mantissa of all digits / 10**(digits after the dot): correctly rounded like
    # float() while the mantissa stays below 2**53 (15 significant digits).
    lengths = ends - starts
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    pos = np.arange(total) + np.repeat(starts - offsets, lengths)
    ch = a[pos]
    digit_mask = (ch >= 48) & (ch <= 57)
    run_end_digits = np.repeat(digits_c[ends], lengths)
    after = run_end_digits - digits_c[pos + 1]  # digits to the right of this character in its run
    contrib = np.where(digit_mask, (ch.astype(np.float64) - 48) * _POW10[np.minimum(after, 39)], 0.0)
    mantissa = np.add.reduceat(contrib, offsets)
    dot_pos = np.flatnonzero(ch == 46)
    frac = np.zeros(starts.size, np.int64)
    run_of_dot = np.searchsorted(offsets, dot_pos, side="right") - 1
    frac[run_of_dot] = after[dot_pos]
    value = mantissa / _POW10[np.minimum(frac, 39)]
    value = np.where(a[starts] == 45, -value, value)
    value[~valid] = np.nan

    line = np.searchsorted(nl, starts) + line0
    is_cmd = (letters == _G) | (letters == _M) | (letters == _T)
    cmd_line = line[is_cmd]
    if cmd_line.size:
        first = np.ones(cmd_line.size, bool)
        first[1:] = cmd_line[1:] != cmd_line[:-1]
        letter[cmd_line[first]] = letters[is_cmd][first]
        number[cmd_line[first]] = value[is_cmd][first]
        cmd_line, cmd_letters, cmd_values = cmd_line[first], letters[is_cmd][first], value[is_cmd][first]
        modal_mask = ((cmd_letters == _G) & np.isin(cmd_values, (20.0, 21.0, 90.0, 91.0))) | (
            (cmd_letters == _M) & np.isin(cmd_values, (82.0, 83.0))
        )
        for ln, lt, v in zip(
            cmd_line[modal_mask].tolist(), cmd_letters[modal_mask].tolist(), cmd_values[modal_mask].tolist(), strict=True
        ):
            modal.append((ln, f"{chr(lt)}{int(v)}"))
    for axis in AXES:
        mask = letters == ord(axis)
        values[axis][line[mask]] = value[mask]
