"""Runs: start a service (automation script or action on the open document), watch, cancel, answer prompts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from scriptdeck.errors import UnknownServiceError, UserError
from scriptdeck.plugins.model import ServiceKind
from scriptdeck.web.backend import WebBackend
from scriptdeck.web.models import AnswerIn, OkOut, PromptsOut, RunIn, RunOut, RunsOut
from scriptdeck.web.routes import backend

router = APIRouter(tags=["runs"])
Backend = Annotated[WebBackend, Depends(backend)]


@router.post("/runs", response_model=RunOut, status_code=202)
def start_run(body: RunIn, b: Backend) -> dict[str, Any]:
    """Start an automation script or an action (on the open document) with these per-run settings.

    Settings are validated before anything starts (400 naming the field). A second automation
    script on the same machine is refused with 409 naming the running one.
    """
    service = b.service(body.service, field="service")
    if service.kind == ServiceKind.FORMAT:
        raise UserError("service: format services run through /api/document/open and /api/document/save")
    return b.start_run(service, body.settings)


@router.get("/runs", response_model=RunsOut)
def list_runs(b: Backend, active: bool = False) -> dict[str, Any]:
    """Runs seen by this server since it started (newest last); `active=true` only those still running."""
    return {"runs": b.runs.active() if active else b.runs.all()}


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, b: Backend) -> dict[str, Any]:
    found = b.runs.get(run_id) or b.history_record(run_id)
    if found is None:
        raise UnknownServiceError(f"run_id: no run {run_id!r}")
    return found


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
def cancel_run(run_id: str, b: Backend) -> dict[str, Any]:
    """Cancel a run: its worker is terminated and the machine put in a safe state."""
    if b.runs.get(run_id) is None and b.history_record(run_id) is None:
        raise UnknownServiceError(f"run_id: no run {run_id!r}")
    b.cancel_run(run_id)
    return b.runs.get(run_id) or b.history_record(run_id) or {}


@router.get("/prompts", response_model=PromptsOut)
def list_prompts(b: Backend) -> dict[str, Any]:
    """Questions plugins are waiting on (window.question / window.choose_option)."""
    with b._prompt_lock:
        return {"prompts": list(b.prompts.values())}


@router.post("/prompts/{request_id}", response_model=OkOut)
def answer_prompt(request_id: str, body: AnswerIn, b: Backend) -> dict[str, Any]:
    """Answer a waiting question: `true`/`false` for question, the option's index for choose_option."""
    b.answer_prompt(request_id, body.answer)
    return {"ok": True, "message": "answered"}
