"""GcodeDocument: a G-code program kept byte-exact, with an editing API and undoable steps."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, overload

import numpy as np

from scriptdeck.document.lines import Line
from scriptdeck.document.textfile import read_gcode_bytes
from scriptdeck.errors import UserError

if TYPE_CHECKING:
    from scriptdeck.document.preview import Preview
    from scriptdeck.document.toolpath import Layer, Stats, Toolpath

__all__ = ["ENCODING", "GcodeDocument", "LineSource"]

# Text views decode UTF-8 with surrogateescape: any byte sequence survives bytes → text → bytes,
# so a Windows-1252 comment in an old slicer's header does not make a file unopenable or change it.
ENCODING = "utf-8"
_ERRORS = "surrogateescape"

LineSource = str | Line | Iterable[str | Line]
"""What ``insert``/``append`` accept: text (split at line breaks), one ``Line``, or an iterable of either."""

_Edit = tuple[int, list[bytes], int]  # (index, lines removed there, number of lines inserted there)


@dataclass
class _Step:
    label: str
    id: int
    edits: list[_Edit] = field(default_factory=list)


_step_ids = itertools.count(1)


def _line_bounds(data: bytes) -> np.ndarray:
    """Offsets where each line starts, plus len(data): line i is data[b[i]:b[i+1]], ending included."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    tail = [len(data)] if data and not data.endswith(b"\n") else []
    return np.concatenate((np.zeros(1, np.int64), ends.astype(np.int64), np.array(tail, np.int64)))


def _split_ending(chunk: bytes) -> tuple[bytes, bytes]:
    if chunk.endswith(b"\r\n"):
        return chunk[:-2], b"\r\n"
    if chunk.endswith(b"\n"):
        return chunk[:-1], b"\n"
    return chunk, b""


def _decode(data: bytes) -> str:
    return data.decode(ENCODING, _ERRORS)


def _encode(text: str) -> bytes:
    return text.encode(ENCODING, _ERRORS)


class GcodeDocument:
    """A G-code program: every byte of the input kept, lines parsed on demand, edits undoable.

    Unchanged, ``to_bytes()`` returns exactly the bytes it was made from. Lines are split at
    ``\\n`` only (``\\r\\n`` endings belong to their line; a lone ``\\r`` is content). New lines get the
    document's dominant ending (``line_ending``).

    >>> doc = GcodeDocument.from_text("G28\\r\\nG1 Z5\\r\\n")
    >>> with doc.step("Pause"):
    ...     doc.insert(1, "M0")
    >>> doc.text
    'G28\\r\\nM0\\r\\nG1 Z5\\r\\n'
    >>> doc.undo()
    'Pause'
    """

    def __init__(self, data: bytes = b"") -> None:
        self._data: bytes | None = bytes(data)
        self._bounds: np.ndarray | None = None
        self._lines: list[bytes] | None = None  # list mode, entered on the first edit
        self._joined: bytes | None = None  # cache of b"".join(self._lines)
        crlf = data.count(b"\r\n")
        self._ending = b"\r\n" if crlf and crlf * 2 >= data.count(b"\n") else b"\n"
        self._revision = 0
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._open: _Step | None = None
        self._depth = 0
        self._saved_marker = 0
        self._toolpaths: dict[tuple[int, float | None], Toolpath] = {}

    # -- construction and serialisation ---------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes) -> GcodeDocument:
        """A document holding exactly ``data``."""
        return cls(data)

    @classmethod
    def from_text(cls, text: str) -> GcodeDocument:
        """A document from text (``from_text(doc.text).to_bytes() == doc.to_bytes()`` always holds)."""
        return cls(_encode(text))

    @classmethod
    def from_file(cls, path: str | Path) -> GcodeDocument:
        """Read a G-code file in binary mode; UserError if it is not text (see `read_gcode_bytes`).

        A leading UTF-8 byte order mark is dropped (a save writes the file without it): it is an
        editor's encoding mark, not G-code, and a firmware sent line 1 with it would not know the command.
        """
        return cls(read_gcode_bytes(path))

    def to_bytes(self) -> bytes:
        """The program as bytes: identical to the input while nothing was edited."""
        if self._lines is None:
            assert self._data is not None
            return self._data
        if self._joined is None:
            self._joined = b"".join(self._lines)
        return self._joined

    @property
    def text(self) -> str:
        """The program as text (UTF-8; undecodable bytes kept as surrogate escapes)."""
        return _decode(self.to_bytes())

    def save(self, path: str | Path) -> None:
        """Write the program to ``path`` (binary, so line endings are kept)."""
        Path(path).write_bytes(self.to_bytes())

    @property
    def line_ending(self) -> str:
        """The dominant line ending ("\\n" or "\\r\\n"), given to lines that are inserted."""
        return self._ending.decode()

    @property
    def revision(self) -> int:
        """Increases with every change (edit, undo, redo): compare two values to see if anything happened."""
        return self._revision

    @property
    def changed(self) -> bool:
        """True when the content differs from when it was loaded or last ``mark_saved()``."""
        top = self._undo[-1].id if self._undo else 0
        return top != self._saved_marker or bool(self._open and self._open.edits)

    def mark_saved(self) -> None:
        """Record the current content as saved: ``changed`` becomes False."""
        self._saved_marker = self._undo[-1].id if self._undo else 0

    # -- reading --------------------------------------------------------------------------------

    def _offsets(self) -> np.ndarray:
        if self._bounds is None:
            assert self._data is not None
            self._bounds = _line_bounds(self._data)
        return self._bounds

    def __len__(self) -> int:
        if self._lines is not None:
            return len(self._lines)
        return len(self._offsets()) - 1

    def _raw(self, index: int) -> bytes:
        if self._lines is not None:
            return self._lines[index]
        bounds = self._offsets()
        assert self._data is not None
        return self._data[int(bounds[index]) : int(bounds[index + 1])]

    def _line(self, index: int) -> Line:
        raw, ending = _split_ending(self._raw(index))
        return Line(_decode(raw), ending.decode())

    def _index(self, index: int, *, allow_end: bool = False) -> int:
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size + allow_end:
            raise IndexError(f"line index {index} out of range: the document has {size} lines")
        return index

    @overload
    def __getitem__(self, index: int) -> Line: ...
    @overload
    def __getitem__(self, index: slice) -> list[Line]: ...
    def __getitem__(self, index: int | slice) -> Line | list[Line]:
        """``doc[i]`` is line i (0-based) as a ``Line``; ``doc[a:b]`` a list of them."""
        if isinstance(index, slice):
            return [self._line(i) for i in range(*index.indices(len(self)))]
        return self._line(self._index(index))

    def __iter__(self) -> Iterator[Line]:
        """Every line, in order (do not edit while iterating; collect indices with ``find`` first)."""
        for i in range(len(self)):
            yield self._line(i)

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, Line]]:
        """``(index, line)`` pairs for lines ``start`` up to ``stop`` (exclusive)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(max(start, 0), stop):
            yield i, self._line(i)

    def line_start_offsets(self) -> np.ndarray:
        """Byte offset of each line's start in ``to_bytes()``, plus the total length (read-only)."""
        if self._lines is not None:
            return _line_bounds(self.to_bytes())
        return self._offsets()

    # -- finding --------------------------------------------------------------------------------

    def find(
        self,
        command: str | Iterable[str] | None = None,
        *,
        layer: int | None = None,
        z: float | None = None,
        pattern: str | re.Pattern[str] | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> list[int]:
        """Indices of lines matching every given criterion, in order.

        ``command``: one or several commands ("M104", ["G0", "G1"]; "G01" matches "G1").
        ``layer``: lines of that layer (0-based, see ``layers``). ``z``: lines of the layer(s) printed
        at that height (±0.001 mm). ``pattern``: a regular expression searched in the line's raw text.
        ``start``/``stop`` limit the line range.
        """
        stop = len(self) if stop is None else min(stop, len(self))
        ranges = [(max(start, 0), stop)]
        if layer is not None or z is not None:
            tp = self.toolpath()
            chosen = [lay for lay in tp.layers if (layer is None or lay.index == layer)]
            if z is not None:
                chosen = [lay for lay in chosen if abs(lay.z - z) <= 1e-3]
            ranges = [(max(lay.first_line, start), min(lay.end_line, stop)) for lay in chosen]
        candidates: Iterable[int]
        if command is not None:
            wanted = {Line(command).command} if isinstance(command, str) else {Line(c).command for c in command}
            candidates = (i for i in self._command_candidates(wanted) if self._line(i).command in wanted)
            found = [i for i in candidates if any(a <= i < b for a, b in ranges)]
        else:
            found = [i for a, b in ranges for i in range(a, b)]
        if pattern is not None:
            regex = re.compile(pattern) if isinstance(pattern, str) else pattern
            found = [i for i in found if regex.search(self._line(i).raw)]
        return found

    def _command_candidates(self, commands: set[str | None]) -> list[int]:
        # A regex over the whole buffer is ~100x faster than parsing every line; the hits are then
        # checked with the real parser, so the regex only has to be generous, never exact.
        alternatives = []
        for command in commands:
            if not command:
                continue
            whole, _, frac = command[1:].partition(".")
            number = re.escape(whole.encode()) + (rb"\." + re.escape(frac.encode()) if frac else b"")
            alternatives.append(re.escape(command[:1].encode()) + rb"[ \t]*[+]?0*" + number + rb"(?![0-9]|\.[0-9])")
        if not alternatives:
            return []
        regex = re.compile(rb"^[ \t]*(?:[Nn][ \t]*\d+[ \t]*)?(?:" + b"|".join(alternatives) + rb")", re.M | re.I)
        data = self.to_bytes()
        offsets = np.fromiter((m.start() for m in regex.finditer(data)), dtype=np.int64)
        bounds = self.line_start_offsets()
        return [int(i) for i in np.searchsorted(bounds, offsets, side="right") - 1]

    # -- toolpath -------------------------------------------------------------------------------

    def toolpath(self, acceleration: float | None = None) -> Toolpath:
        """The interpreted moves, layers and statistics of the current content (cached per revision).

        ``acceleration`` (mm/s²) overrides the default of the time estimate; M204 in the file still wins.
        """
        from scriptdeck.document.toolpath import analyse

        key = (self._revision, acceleration)
        cached = self._toolpaths.get(key)
        if cached is None:
            kwargs = {} if acceleration is None else {"acceleration": acceleration}
            cached = analyse(self.to_bytes(), **kwargs)
            self._toolpaths = {key: cached}
        return cached

    def stats(self, acceleration: float | None = None) -> Stats:
        """Summary figures: lines, moves, layers, bounds, extrusion, estimated time, tool changes."""
        return self.toolpath(acceleration).stats

    @property
    def layers(self) -> list[Layer]:
        """The layers, in file order (see docs/document.md for how they are found)."""
        return self.toolpath().layers

    def preview(self, max_segments: int = 200_000) -> Preview:
        """Per-layer polylines of the extruding moves, decimated to at most ``max_segments`` points."""
        return self.toolpath().preview(max_segments)

    # -- editing --------------------------------------------------------------------------------

    def _to_list(self) -> list[bytes]:
        if self._lines is None:
            data = self.to_bytes()
            pieces = data.split(b"\n")
            last = pieces.pop()
            lines = [piece + b"\n" for piece in pieces]
            if last:
                lines.append(last)
            self._lines, self._data, self._bounds = lines, None, None
            self._joined = data
        return self._lines

    def _encode_lines(self, source: LineSource) -> list[bytes]:
        items: Iterable[str | Line] = [source] if isinstance(source, str | Line) else source
        out: list[bytes] = []
        for item in items:
            if isinstance(item, Line):
                texts = [item.raw]
            else:
                texts = str(item).split("\n")
                if len(texts) > 1 and texts[-1] == "":
                    texts.pop()  # "a\nb\n" is two lines, as a file holds them, not two and a blank one
            for text in texts:
                if "\n" in text:
                    raise UserError(f"a Line cannot contain a line break: {text!r}")
                text = text.removesuffix("\r")
                out.append(_encode(text) + self._ending)
        return out

    def _splice(self, index: int, remove: int, new: list[bytes]) -> None:
        lines = self._to_list()
        removed = lines[index : index + remove]
        lines[index : index + remove] = new
        self._joined = None
        self._revision += 1
        if self._open is None:  # an edit outside a step is a step of its own
            with self.step("edit"):
                self._record(index, removed, len(new))
        else:
            self._record(index, removed, len(new))

    def _record(self, index: int, removed: list[bytes], inserted: int) -> None:
        assert self._open is not None
        self._open.edits.append((index, removed, inserted))

    def insert(self, index: int, lines: LineSource) -> int:
        """Insert line(s) before line ``index`` (``len(doc)`` appends); returns how many were inserted.

        Text is split at line breaks; every new line gets the dominant line ending. Inserting after a
        last line that has no ending gives that line one and leaves the new last line without, so the
        file still ends the way it did.
        """
        index = self._index(index, allow_end=True)
        new = self._encode_lines(lines)
        if not new:
            return 0
        size = len(self)
        if index == size and size and not self._raw(size - 1).endswith(b"\n"):
            previous = self._raw(size - 1)
            new[-1] = _split_ending(new[-1])[0]
            self._splice(size - 1, 1, [previous + self._ending, *new])
            return len(new)
        self._splice(index, 0, new)
        return len(new)

    def append(self, lines: LineSource) -> int:
        """Insert line(s) at the end; returns how many."""
        return self.insert(len(self), lines)

    def replace(self, index: int, line: str | Line) -> None:
        """Replace line ``index``; the line keeps its own ending. Text with line breaks becomes several lines."""
        index = self._index(index)
        _, ending = _split_ending(self._raw(index))
        new = self._encode_lines(line)
        if not new:
            raise UserError(f"replace: line {index + 1}: nothing to replace it with")
        new[-1] = _split_ending(new[-1])[0] + ending
        self._splice(index, 1, new)

    def delete(self, index: int, count: int = 1) -> None:
        """Delete ``count`` lines starting at ``index``."""
        index = self._index(index)
        if count < 0 or index + count > len(self):
            raise IndexError(f"delete({index}, {count}): the document has {len(self)} lines")
        if count:
            self._splice(index, count, [])

    def assign(self, other: GcodeDocument | bytes | str, label: str = "replace document") -> None:
        """Make the content equal to ``other`` as one undoable step (only the differing middle is stored).

        This is how a document edited elsewhere (in a worker process, shipped back as text) comes home.
        """
        new = other.to_bytes() if isinstance(other, GcodeDocument) else other
        new = _encode(new) if isinstance(new, str) else bytes(new)
        old = self.to_bytes()
        if new == old:
            return
        a, b = np.frombuffer(old, np.uint8), np.frombuffer(new, np.uint8)
        common = min(len(a), len(b))
        diff = np.flatnonzero(a[:common] != b[:common])
        prefix = int(diff[0]) if diff.size else common
        # The shared tail may not overlap the shared head, or one byte would count twice.
        tail_len = common - prefix
        rdiff = np.flatnonzero(a[::-1][:tail_len] != b[::-1][:tail_len])
        suffix = int(rdiff[0]) if rdiff.size else tail_len
        bounds = self.line_start_offsets()
        size = len(bounds) - 1
        first = int(np.searchsorted(bounds, prefix, side="right")) - 1
        # First old line whose preceding "\n" lies inside the shared tail: it starts a line in both.
        last = min(int(np.searchsorted(bounds, len(old) - suffix, side="right")), size)
        tail_start_new = len(new) - (len(old) - int(bounds[last]))
        pieces = new[int(bounds[first]) : tail_start_new].split(b"\n")
        end_piece = pieces.pop()
        new_lines = [p + b"\n" for p in pieces] + ([end_piece] if end_piece else [])
        with self.step(label):
            self._splice(first, last - first, new_lines)
        assert self.to_bytes() == new

    # -- undo -----------------------------------------------------------------------------------

    def begin_step(self, label: str) -> None:
        """Start an undoable step; every edit until the matching ``end_step()`` is undone together.

        Steps nest: inner steps merge into the outermost one.
        """
        if self._depth == 0:
            self._open = _Step(label, next(_step_ids))
        self._depth += 1

    def end_step(self) -> None:
        """Close the step opened by ``begin_step``."""
        if self._depth == 0:
            raise UserError("end_step() without begin_step()")
        self._depth -= 1
        if self._depth == 0:
            assert self._open is not None
            if self._open.edits:
                self._undo.append(self._open)
                self._redo.clear()
            self._open = None

    @contextmanager
    def step(self, label: str) -> Iterator[GcodeDocument]:
        """``with doc.step("Pause at height"):`` — one undoable step; if the block raises, its edits are rolled back."""
        self.begin_step(label)
        assert self._open is not None
        mark = len(self._open.edits)
        try:
            yield self
        except BaseException:
            edits = self._open.edits[mark:]
            del self._open.edits[mark:]
            self._revert(edits)
            raise
        finally:
            self.end_step()

    def _revert(self, edits: list[_Edit]) -> None:
        lines = self._to_list()
        for index, removed, inserted in reversed(edits):
            lines[index : index + inserted] = removed
        self._joined = None
        self._revision += 1

    @property
    def can_undo(self) -> bool:
        """True when there is a step to undo."""
        return bool(self._undo) and self._depth == 0

    @property
    def can_redo(self) -> bool:
        """True when an undone step can be redone."""
        return bool(self._redo) and self._depth == 0

    @property
    def undo_label(self) -> str | None:
        """Label of the step ``undo()`` would undo."""
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        """Label of the step ``redo()`` would redo."""
        return self._redo[-1].label if self._redo else None

    def _invert(self, step: _Step) -> _Step:
        # Applying a step's inverse is itself a list of edits; recording it lets redo replay exactly.
        lines = self._to_list()
        inverse: list[_Edit] = []
        for index, removed, inserted in reversed(step.edits):
            inverse.append((index, lines[index : index + inserted], len(removed)))
            lines[index : index + inserted] = removed
        self._joined = None
        self._revision += 1
        return _Step(step.label, step.id, inverse)

    def undo(self) -> str | None:
        """Undo the last step; returns its label, or None when there was nothing to undo."""
        if self._depth:
            raise UserError("cannot undo while a step is open")
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(self._invert(step))
        return step.label

    def redo(self) -> str | None:
        """Redo the last undone step; returns its label, or None."""
        if self._depth:
            raise UserError("cannot redo while a step is open")
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(self._invert(step))
        return step.label
