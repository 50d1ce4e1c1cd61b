"""The dashboard's open document: upload → format → GcodeDocument, save through a format, preview, undo.

One document per dashboard (a printer owner prepares one job at a time); every page and
every browser tab shares it, and `DocumentChanged` tells them all when it changes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scriptdeck.document.formats import FormatRegistry
from scriptdeck.errors import FormatChoiceError, UserError
from scriptdeck.plugins.model import Service
from scriptdeck.web.hub import StateConflict

if TYPE_CHECKING:
    from scriptdeck.web.backend import WebBackend

CHANGED = "DocumentChanged"


def _formats(b: WebBackend) -> FormatRegistry:
    # The same registry `scriptdeck convert` uses: one place decides which format reads a file.
    return FormatRegistry.from_services(b.registry.formats())


def formats_json(b: WebBackend) -> dict[str, Any]:
    formats: list[dict[str, Any]] = [{"id": f.id, "slug": f.slug, "label": f.label, "extensions": list(f.extensions),
                "can_open": f.can_open, "can_save": f.can_save, "builtin": f.builtin}
               for f in _formats(b).formats]
    exts = sorted({f".{e}" for f in formats if f["can_open"] for e in f["extensions"]})
    return {"formats": formats, "accept": ",".join(exts)}


def _remove(path: Path) -> None:
    """Remove an upload and its private directory."""
    shutil.rmtree(path.parent, ignore_errors=True)


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


class DocumentSession:
    def __init__(self, backend: WebBackend) -> None:
        self.b = backend
        self.document: Any = None
        self.name = ""
        self.lock = threading.RLock()
        self._upload_root: Path | None = None

    def close(self) -> None:
        root, self._upload_root = self._upload_root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    @property
    def _uploads(self) -> Path:
        """Private temp dir for uploads and saves, made on first use (removed when the app stops)."""
        if self._upload_root is None or not self._upload_root.is_dir():
            self._upload_root = Path(tempfile.mkdtemp(prefix="scriptdeck-uploads-"))
        return self._upload_root

    # -- state -------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        with self.lock:
            doc = self.document
            if doc is None:
                return {"loaded": False}
            stats: dict[str, Any] = {}
            try:
                stats = _stats_json(doc.stats())
                if stats.get("bounds") is None and stats.get("moves"):
                    _add_feed_stats(stats, doc)
            except Exception as exc:  # a document the stats cannot read is still a document
                stats = {"error": str(exc)}
            return {"loaded": True, "name": self.name, "lines": len(doc), "revision": int(doc.revision),
                    "can_undo": bool(doc.can_undo), "undo_label": doc.undo_label,
                    "changed": bool(getattr(doc, "changed", False)), "stats": stats}

    def require(self) -> Any:
        if self.document is None:
            raise StateConflict("document: no document is open; open a file on the Document page first")
        return self.document

    def replace(self, data: bytes, name: str, reason: str) -> dict[str, Any]:
        from scriptdeck.document.gcode import GcodeDocument

        with self.lock:
            self.document = GcodeDocument.from_bytes(data)
            self.name = name
        self.changed(reason)
        return self.summary()

    def set_document(self, document: Any, name: str, reason: str) -> None:
        with self.lock:
            self.document = document
            self.name = name
        self.changed(reason)

    def changed(self, reason: str) -> None:
        doc = self.document
        self.b.hub.emit(CHANGED, {"name": self.name, "reason": reason,
                                  "revision": None if doc is None else int(doc.revision),
                                  "lines": 0 if doc is None else len(doc)})

    def undo(self) -> dict[str, Any]:
        with self.lock:
            doc = self.require()
            if not doc.can_undo:
                raise StateConflict("document: nothing to undo")
            label = doc.undo()
        self.changed(f"undo {label}")
        return self.summary()

    # -- open ---------------------------------------------------------------------------------

    async def receive_upload(self, chunks: AsyncIterator[bytes], name: str) -> Path:
        # A private directory per upload, so the plugin sees the user's file name.
        folder = Path(tempfile.mkdtemp(dir=self._uploads))
        path = folder / name
        try:
            with path.open("wb") as fh:
                async for chunk in chunks:  # BodyLimitMiddleware raises past the size limit
                    fh.write(chunk)
        except BaseException:
            _remove(path)
            raise
        return path

    def choose(self, filename: str, requested: str | None, direction: str) -> Service | None:
        """The format service for a file (None = the built-in G-code format).

        Several formats for one extension: FormatChoiceError, and the page asks the user which
        one (its "Which format?" dialog) and sends the choice as `format`.
        """
        if not requested and not _extension(filename):
            return None  # an upload without an extension is taken as G-code
        try:
            return _formats(self.b).choose(filename, direction, requested or None).service
        except FormatChoiceError as exc:
            raise FormatChoiceError(f"format: {exc}") from None

    async def open_path(self, path: Path, name: str, requested: str | None, values: dict[str, Any]) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(self._open, path, name, requested, values)
        finally:
            _remove(path)

    def _open(self, path: Path, name: str, requested: str | None, values: dict[str, Any]) -> dict[str, Any]:
        from scriptdeck.document.gcode import GcodeDocument

        service = self.choose(name, requested, "open")
        if service is None:
            if values:
                raise UserError(f"settings: the G-code format has no settings, got {sorted(values)}")
            try:
                document = GcodeDocument.from_file(path)
            except UserError as exc:  # name the upload, not its temporary path on the server
                raise UserError(str(exc).replace(str(path), name)) from None
            self.set_document(document, name, "opened")
            return {"document": self.summary(), "run": None, "messages": []}
        schema = service.settings_for("open")
        typed = schema.coerce_values(values)  # 400 naming the field; nothing opened
        self.b.store.remember(service.settings_key("open"), typed)
        result = self.b.run_format(service, "open", path, typed, None)
        messages = list(getattr(result, "messages", []) or [])
        run = self.b.runs.get(str(result.run_id))
        if result.outcome != "finished":
            return {"document": self.summary(), "run": run, "messages": messages}
        document = result.document
        if document is None:
            raise UserError(f"format: {service.id} produced no document")
        self.set_document(document, name.rsplit(".", 1)[0] + ".gcode", f"opened {name} with {service.label}")
        return {"document": self.summary(), "run": run, "messages": messages}

    # -- save ---------------------------------------------------------------------------------

    def save(self, requested: str | None, filename: str | None, values: dict[str, Any]) -> tuple[bytes, str, str]:
        doc = self.require()
        name = filename or self.name or "document.gcode"
        service = self.choose(name, requested, "save")
        if service is None:
            if values:
                raise UserError(f"settings: the G-code format has no settings, got {sorted(values)}")
            with self.lock:
                data = doc.to_bytes()
            if "." not in name:
                name += ".gcode"
            return data, name, "application/octet-stream"
        typed = service.settings_for("save").coerce_values(values)
        self.b.store.remember(service.settings_key("save"), typed)
        ext = service.extensions[0] if service.extensions else service.slug
        if _extension(name) not in service.extensions:
            name = name.rsplit(".", 1)[0] + f".{ext}"
        target = Path(tempfile.mkdtemp(dir=self._uploads)) / name
        try:
            result = self.b.run_format(service, "save", target, typed, doc)
            if result.outcome != "finished":
                reason = result.failure_reason or result.error or result.outcome
                raise UserError(f"format: saving with {service.id} {result.outcome}: {reason}")
            return target.read_bytes(), name, "application/octet-stream"
        finally:
            _remove(target)

    # -- preview ------------------------------------------------------------------------------

    def preview(self, max_segments: int) -> dict[str, Any]:
        with self.lock:
            doc = self.document
            if doc is None:
                return {"revision": 0, "bounds": None, "layers": []}
            revision = int(doc.revision)
            data = preview_json(doc.preview(max_segments))
            if not data["layers"]:
                # No extrusion: a plotter, laser or CNC job. Draw its feed moves instead.
                data = feed_preview(doc, max_segments)
        return {"revision": revision, **data}


def _stats_json(stats: Any) -> dict[str, Any]:
    from scriptdeck.web.backend import _plain

    data = _plain(stats)
    if not isinstance(data, dict):
        return {"value": data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, int | float | str | bool) or value is None:
            out[key] = value
        elif isinstance(value, list | tuple) and len(value) <= 16:
            out[key] = list(value)
        elif isinstance(value, dict) and len(value) <= 32:
            out[key] = value
    return out


def _add_feed_stats(stats: dict[str, Any], doc: Any) -> None:
    """Bounds (and one layer) of a job without extrusion, as its preview (`feed_preview`) draws it.

    The document counts layers and measures bounds by extruding moves, so a plotter, laser or
    CNC job has none, while the preview shows its feed moves as one layer: the statistics say the
    same. Same rule as `feed_preview` (a move not in G0 that changes X or Y draws, starting where
    the previous move ended), vectorised: this runs on every summary.
    """
    import numpy as np

    tp = doc.toolpath()
    moves = np.flatnonzero(tp.is_move)
    x, y, z = tp.x[moves], tp.y[moves], tp.z[moves]
    prev = [np.concatenate(([0.0], a[:-1])) for a in (x, y, z)]
    drawing = (tp.motion[moves] != 0) & ((x != prev[0]) | (y != prev[1]))
    if not drawing.any():
        return
    box = [np.concatenate((a[drawing], p[drawing])) for a, p in zip((x, y, z), prev, strict=True)]
    lows, highs = [float(a.min()) for a in box], [float(a.max()) for a in box]
    drawn = np.zeros(tp.is_move.size, bool)
    drawn[moves[drawing]] = True
    for line, points in tp.arcs.items():  # arcs bulge past their end points
        if drawn[line]:
            lows = [min(lo, float(points[:, k].min())) for k, lo in enumerate(lows)]
            highs = [max(hi, float(points[:, k].max())) for k, hi in enumerate(highs)]
    keys = ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z")
    stats["bounds"] = dict(zip(keys, lows + highs, strict=True))
    stats["layers"] = stats.get("layers") or 1


def preview_json(raw: Any) -> dict[str, Any]:
    """The document layer's Preview as `{bounds, layers: [{index, z, first_line, paths}], points, stride}`."""
    from scriptdeck.web.backend import _plain

    if hasattr(raw, "layers"):
        # Attribute access, not dataclasses.asdict: asdict deep-copies every path list, which
        # for a million-line job costs more than building the preview itself.
        bounds = _plain(raw.bounds) if raw.bounds is not None else None
        layers = [{"index": layer.index, "z": layer.z, "first_line": layer.first_line, "paths": layer.paths}
                  for layer in raw.layers]
        data: dict[str, Any] = {"bounds": bounds, "layers": layers, "points": raw.points, "stride": raw.stride}
    else:
        data = _plain(raw) if not isinstance(raw, dict) else raw
    if not isinstance(data, dict):
        return {"bounds": None, "layers": []}
    bounds = data.get("bounds")
    if isinstance(bounds, dict):  # Bounds(min_x, min_y, min_z, max_x, max_y, max_z)
        bounds = [float(bounds[k]) for k in ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z") if k in bounds]
    elif bounds is not None:
        bounds = [float(v) for v in bounds]
    layers = [{"index": layer.get("index"), "z": layer.get("z"), "first_line": layer.get("first_line"),
               "paths": layer.get("paths") or []} for layer in data.get("layers") or []]
    return {"bounds": bounds, "layers": layers, "points": data.get("points"), "stride": data.get("stride")}


def feed_preview(doc: Any, max_points: int) -> dict[str, Any]:
    """Polylines of the non-G0 moves of a job without extrusion (pen plotter, laser, CNC), one layer.

    Uses the toolpath's per-line positions and each move line's command (G0 is travel; G1/G2/G3
    and bare coordinate lines after them draw). A pen that lifts with Z still shows as one drawing
    per Z, which is what a plotter preview needs.
    """
    import numpy as np

    tp = doc.toolpath()
    moves = np.flatnonzero(tp.is_move)
    if not moves.size:
        return {"bounds": None, "layers": [], "points": 0, "stride": 1}
    stride = max(1, int(moves.size // max(max_points, 2)) + 1) if moves.size > max_points else 1
    paths: list[list[float]] = []
    current: list[float] = []
    modal = "G0"
    prev_x = prev_y = 0.0
    xs: list[float] = []
    ys: list[float] = []
    for count, index in enumerate(moves.tolist()):
        command = doc[index].command
        if command in ("G0", "G1", "G2", "G3"):
            modal = command
        x, y = float(tp.x[index]), float(tp.y[index])
        drawing = modal != "G0" and (x != prev_x or y != prev_y)
        if drawing:
            if not current:
                current = [round(prev_x, 3), round(prev_y, 3)]
            if stride == 1 or count % stride == 0:
                current += [round(x, 3), round(y, 3)]
            xs.append(x)
            ys.append(y)
        elif current:
            if current[-2:] != [round(prev_x, 3), round(prev_y, 3)]:
                current += [round(prev_x, 3), round(prev_y, 3)]  # keep each path's end
            paths.append(current)
            current = []
        prev_x, prev_y = x, y
    if current:
        paths.append(current)
    if not paths:
        return {"bounds": None, "layers": [], "points": 0, "stride": stride}
    for path in paths:
        xs += path[0::2]
        ys += path[1::2]
    bounds = [min(xs), min(ys), 0.0, max(xs), max(ys), 0.0]
    points = sum(len(p) // 2 for p in paths)
    return {"bounds": bounds, "layers": [{"index": 0, "z": 0.0, "first_line": int(moves[0]), "paths": paths}],
            "points": points, "stride": stride}
