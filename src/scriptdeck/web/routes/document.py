"""Document: open (upload, through a format), save (download), stats, toolpath preview, undo."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from scriptdeck.errors import UserError
from scriptdeck.web.backend import WebBackend
from scriptdeck.web.documents import DocumentSession, formats_json
from scriptdeck.web.models import DocumentOut, FormatsOut, OpenResultOut, PreviewOut, SaveIn
from scriptdeck.web.routes import backend, fast_json

router = APIRouter(tags=["document"])
Backend = Annotated[WebBackend, Depends(backend)]
_SAFE_NAME = re.compile(r"[^\w.\- ]+")
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._\- ]+")


def session(b: WebBackend) -> DocumentSession:
    found: DocumentSession = b.documents
    return found


@router.get("/document", response_model=DocumentOut)
def get_document(b: Backend) -> dict[str, Any]:
    """The open document: name, line count, revision, undo state and stats (bounds, time, extrusion, layers)."""
    return session(b).summary()


@router.get("/document/formats", response_model=FormatsOut)
def get_formats(b: Backend) -> dict[str, Any]:
    """Formats that can open or save (the built-in G-code one and every format service)."""
    return formats_json(b)


@router.post("/document/open", response_model=OpenResultOut, status_code=200,
             openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {
                 "type": "string", "format": "binary"}}}, "required": True}})
async def open_document(
    request: Request, b: Backend,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    format: Annotated[str | None, Query(max_length=200)] = None,
    settings: Annotated[str | None, Query(max_length=100_000, description="JSON object of the format's settings")] = None,
) -> dict[str, Any]:
    """Upload a file (the raw request body) and open it through its format; replaces the open document.

    Size-limited (413 beyond the limit). Format by `format` (slug or service id), else by extension.
    """
    values = _settings_arg(settings)
    name = _SAFE_NAME.sub("_", filename).strip() or "upload"
    tmp = await session(b).receive_upload(request.stream(), name)
    return await session(b).open_path(tmp, name, format, values)


@router.post("/document/save", response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}, "description": "the saved file"}})
def save_document(body: SaveIn, b: Backend) -> Response:
    """The open document written by a format (G-code by default), returned as a download."""
    data, filename, media = session(b).save(body.format, body.filename, body.settings)
    # An ASCII fallback plus the exact name in RFC 5987 form: headers are latin-1 only.
    fallback = _ASCII_NAME.sub("_", filename).strip() or "document.gcode"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(data, media_type=media, headers={"content-disposition": disposition})


@router.get("/document/preview", response_model=PreviewOut)
def preview(b: Backend, max_segments: Annotated[int, Query(ge=1000, le=2_000_000)] = 300_000) -> Response:
    """Per-layer polylines of the toolpath (top view), decimated to at most `max_segments`."""
    # Megabytes of numbers: serialised directly (the shape is PreviewOut, built by the document layer),
    # skipping a second validation pass that would cost more than building the preview.
    return fast_json(session(b).preview(max_segments))


@router.post("/document/undo", response_model=DocumentOut)
def undo(b: Backend) -> dict[str, Any]:
    """Undo the last action run (or other edit step) on the open document."""
    return session(b).undo()


@router.post("/document/new", response_model=DocumentOut)
def new_document(b: Backend) -> dict[str, Any]:
    """Start an empty document (actions can then build a job from scratch)."""
    return session(b).replace(b"", "untitled.gcode", "new document")


def _settings_arg(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"settings: expected a JSON object, got invalid JSON ({exc.msg})") from None
    if not isinstance(values, dict):
        raise UserError("settings: expected a JSON object of setting values")
    return values


__all__ = ["router"]
