"""The Marlin line protocol: framing lines with numbers and checksums, and classifying replies.

Pure functions and small value types; no I/O. The sender and the simulator both use them,
so a framing bug cannot hide by being symmetric: tests check them against hand-made bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import reduce
from operator import xor

__all__ = [
    "Reply",
    "ReplyKind",
    "Temperature",
    "checksum",
    "clean_line",
    "fast_ok",
    "frame",
    "is_recoverable_error",
    "parse_position",
    "parse_reply",
    "parse_temperatures",
]


def checksum(data: bytes) -> int:
    """Marlin's checksum: the XOR of every byte before the ``*``."""
    if len(data) > 64:
        return reduce(xor, data, 0)
    # Up to 64 bytes as one integer, folded in halves: 6 big-int XORs instead of one per byte.
    x = int.from_bytes(data, "little")
    x ^= x >> 256
    x ^= x >> 128
    x ^= x >> 64
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    return x & 0xFF


# A line number and a checksum the source text already carries (CAM output often has them): the
# sender numbers and checksums every line itself, and Marlin reads a second "N" or "*" as garbage.
# Marlin skips a leading "N" followed by a digit or "-", its digits, then blanks; "*" ends the command.
_SOURCE_NUMBER_RE = re.compile(r"^[Nn]-?\d+[ \t]*")
_SOURCE_CHECKSUM_RE = re.compile(r"[ \t]*\*[ \t]*\d+$")


def clean_line(line: str) -> str:
    """A command as sent: the ``;`` comment, blanks at either end, and a line number and checksum removed.

    >>> clean_line("N5 G1 X3*62 ; move")
    'G1 X3'
    >>> clean_line("M110 N0")  # a parameter, not a line number
    'M110 N0'
    """
    if ";" in line:
        line = line.split(";", 1)[0]
    line = line.strip()
    # Once per line streamed: most lines have neither, and these two tests cost ~40 ns together.
    if "*" in line or (line and line[0] in "Nn"):
        line = _SOURCE_CHECKSUM_RE.sub("", _SOURCE_NUMBER_RE.sub("", line, count=1), count=1)
    return line


def frame(number: int, command: str) -> bytes:
    """``N<number> <command>*<checksum>\\n`` as bytes.

    >>> frame(1, "G28")
    b'N1 G28*18\\n'
    """
    body = b"N%d %s" % (number, command.encode("ascii", "replace"))
    return b"%s*%d\n" % (body, checksum(body))


class ReplyKind(Enum):
    OK = "ok"  # acknowledges the oldest unacknowledged line (may carry data)
    RESEND = "resend"  # the firmware wants lines again from `line`
    ERROR = "error"  # "Error:..." (recoverable ones precede a Resend; others mean a halt)
    BUSY = "busy"  # "echo:busy: processing" keep-alive during long commands
    WAIT = "wait"  # Marlin idle with an empty queue
    START = "start"  # firmware (re)booted
    OTHER = "other"  # echo:, temperature or position reports, anything else


@dataclass(frozen=True, slots=True)
class Temperature:
    actual: float
    target: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    text: str
    line: int | None = None  # RESEND: the requested line; OK with ADVANCED_OK: N
    planner_free: int | None = None  # OK with ADVANCED_OK: P
    buffer_free: int | None = None  # OK with ADVANCED_OK: B
    temperatures: dict[str, Temperature] = field(default_factory=dict)
    position: dict[str, float] | None = None


_RESEND_RE = re.compile(r"^(?:resend|rs)\s*:?\s*N?\s*(-?\d+)", re.IGNORECASE)
_ADV_OK_RE = re.compile(r"\b([NPB])(\d+)\b")
# "T:200.0 /200.0 B:60.0 /60.0 T0:200.0 /200.0 @:0 B@:0" — the optional "/target" follows each sensor.
_TEMP_RE = re.compile(r"(?<![\w@])(T\d*|B|C|P|A|R)\s*:\s*(-?\d+(?:\.\d+)?)(?:\s*/\s*(-?\d+(?:\.\d+)?))?")
_POS_RE = re.compile(r"(?<![\w])([XYZEABC])\s*:\s*(-?\d+(?:\.\d+)?)")
# Errors a firmware recovers from by itself: it follows them with "Resend:" and "ok".
_RECOVERABLE = (
    "checksum",
    "line number",
    "expected line",
    "no line number",
    "missing checksum",
    "format error",
    "unknown command",
    "cold extrusion",
)


def is_recoverable_error(text: str) -> bool:
    """True for ``Error:`` lines that belong to a resend cycle rather than a halt."""
    low = text.lower()
    return any(word in low for word in _RECOVERABLE)


def parse_temperatures(text: str) -> dict[str, Temperature]:
    """Sensors in a temperature report; ``{}`` when the text is not one.

    >>> parse_temperatures("ok T:20.1 /200.0 B:21.0 /60.0 @:0 B@:0")["T"]
    Temperature(actual=20.1, target=200.0)
    """
    if "T" not in text and "B:" not in text:
        return {}
    out: dict[str, Temperature] = {}
    for name, actual, target in _TEMP_RE.findall(text):
        out[name] = Temperature(float(actual), float(target) if target else None)
    # A lone "B:" without a "/target" is not a report (ADVANCED_OK uses "B<n>", others "B:").
    if any(k.startswith("T") for k in out) or ("B" in out and "/" in text):
        return out
    return {}


def parse_position(text: str) -> dict[str, float] | None:
    """Axes of an M114 reply (``X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 ...``); the part before ``Count``."""
    head = text.split("Count", 1)[0]
    if "X:" not in head:
        return None
    found = dict(_POS_RE.findall(head))
    if not found:
        return None
    return {k: float(v) for k, v in found.items()}


_PLAIN_OK = Reply(ReplyKind.OK, "ok")

# "ok" and ADVANCED_OK's "ok N<n> P<planner> B<buffer>": once per line streamed, so the sender
# matches them on the raw bytes, before any decoding; group 1 is P, group 2 is B.
fast_ok = re.compile(rb"ok(?: N-?\d+)?(?: P(\d+))?(?: B(\d+))?\s*").fullmatch


# Replies seen lately, by text: temperature reports and keep-alives repeat word for word
# (a heater at its target, M105 polled during a print), and a Reply is immutable.
_SEEN: dict[str, Reply] = {}
_SEEN_MAX = 256


def parse_reply(text: str) -> Reply:
    """Classify one line received from the firmware (without its newline)."""
    s = text.strip()
    if s == "ok":
        return _PLAIN_OK  # the common case, once per line streamed: no parsing, no allocation
    reply = _SEEN.get(s)
    if reply is None:
        reply = _parse_reply(s)
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[s] = reply
    return reply


def _parse_reply(s: str) -> Reply:
    low = s.lower()
    if low.startswith("ok"):
        rest = s[2:]
        n = p = b = None
        temps = parse_temperatures(rest) if "T" in rest else {}
        if not temps and rest.strip():  # "ok T:… B:…" carries temperatures, not ADVANCED_OK's B
            for key, value in _ADV_OK_RE.findall(rest):
                if key == "N":
                    n = int(value)
                elif key == "P":
                    p = int(value)
                else:
                    b = int(value)
        return Reply(ReplyKind.OK, s, line=n, planner_free=p, buffer_free=b, temperatures=temps,
                     position=parse_position(rest) if "X:" in rest else None)
    if low.startswith(("resend", "rs:", "rs ")):
        m = _RESEND_RE.match(s)
        if m:
            return Reply(ReplyKind.RESEND, s, line=int(m.group(1)))
    if low.startswith(("error", "!!")):
        return Reply(ReplyKind.ERROR, s)
    if low.startswith("echo:busy") or low.startswith("busy:"):
        return Reply(ReplyKind.BUSY, s)
    if low == "wait":
        return Reply(ReplyKind.WAIT, s)
    if low == "start":
        return Reply(ReplyKind.START, s)
    temps = parse_temperatures(s) if ("T:" in s or "T0:" in s or "B:" in s) else {}
    pos = parse_position(s) if not temps and "X:" in s else None
    return Reply(ReplyKind.OTHER, s, temperatures=temps, position=pos)
