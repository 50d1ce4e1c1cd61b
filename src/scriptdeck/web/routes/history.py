"""History: past runs from the runtime's SQLite record, and re-running one with the same settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from scriptdeck.errors import UnknownServiceError, UserError
from scriptdeck.plugins.model import ServiceKind
from scriptdeck.web.backend import WebBackend
from scriptdeck.web.models import RunOut, RunsOut
from scriptdeck.web.routes import backend

router = APIRouter(tags=["history"])
Backend = Annotated[WebBackend, Depends(backend)]


@router.get("/history", response_model=RunsOut)
def list_history(b: Backend, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Past runs, newest first, with outcome, settings, status history and log."""
    return {"runs": b.history_list(limit)}


@router.get("/history/{run_id}", response_model=RunOut)
def get_history(run_id: str, b: Backend) -> dict[str, Any]:
    found = b.history_record(run_id)
    if found is None:
        raise UnknownServiceError(f"run_id: no run {run_id!r} in the history")
    return found


@router.post("/history/{run_id}/rerun", response_model=RunOut, status_code=202)
def rerun(run_id: str, b: Backend) -> dict[str, Any]:
    """Start the same service again with the settings that run used (those still in its schema)."""
    found = b.history_record(run_id)
    if found is None:
        raise UnknownServiceError(f"run_id: no run {run_id!r} in the history")
    try:
        service = b.service(found["service"])
    except UnknownServiceError:
        raise UnknownServiceError(f"run_id: run {run_id!r} used service {found['service']!r}, "
                                  "which is no longer installed or enabled") from None
    if service.kind == ServiceKind.FORMAT:
        raise UserError("run_id: a format run is repeated by opening or saving the file again")
    schema = service.settings
    settings = {k: v for k, v in (found.get("settings") or {}).items()
                if (f := schema.get(k)) is not None and f.has_value}
    return b.start_run(service, settings)
