"""Machine: connect/disconnect, state, temperatures, position, the terminal, and the print job."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from scriptdeck.errors import NotConnectedError, UserError
from scriptdeck.web.backend import WebBackend, _plain
from scriptdeck.web.hub import StateConflict
from scriptdeck.web.models import ConnectIn, JobOut, MachineOut, OkOut, SendIn, TemperaturesOut, TerminalOut
from scriptdeck.web.routes import backend

router = APIRouter(tags=["machine"])
Backend = Annotated[WebBackend, Depends(backend)]
_connect_lock = threading.Lock()
ENDED = frozenset({"done", "cancelled", "failed"})  # PrintJob states after which it cannot change


def _state(machine: Any) -> str:
    state = getattr(machine, "state", "disconnected")
    return str(getattr(state, "value", state))


def temperatures_json(machine: Any) -> dict[str, Any]:
    raw = getattr(machine, "temperatures", None) or {}
    out: dict[str, Any] = {}
    for name, value in dict(raw).items():
        plain = _plain(value)
        if isinstance(plain, dict):
            out[str(name)] = {"actual": plain.get("actual"), "target": plain.get("target")}
        elif isinstance(plain, list | tuple) and plain:
            out[str(name)] = {"actual": plain[0], "target": plain[1] if len(plain) > 1 else None}
        else:
            out[str(name)] = {"actual": plain, "target": None}
    return out


def job_json(b: WebBackend) -> dict[str, Any] | None:
    job = getattr(b, "job", None)
    if job is None:
        return None
    progress = job.progress
    return {"state": str(progress.state), "name": str(getattr(job, "name", "")), "acknowledged": int(progress.acked),
            "total": int(progress.total), "elapsed": float(progress.elapsed),
            "remaining": None if progress.eta is None else float(progress.eta),
            "error": None if getattr(job, "error", None) is None else str(job.error)}


def machine_json(b: WebBackend) -> dict[str, Any]:
    machine = b.machine
    if machine is None:
        return {"available": True, "url": b.machine_url, "state": "disconnected", "temperatures": {}, "position": {},
                "job": job_json(b), "error": None}
    error = getattr(machine, "error", None)
    position = {str(k): float(v) for k, v in (getattr(machine, "position", None) or {}).items()}
    return {"available": True, "url": str(getattr(machine, "url", "")), "state": _state(machine),
            "owner": getattr(machine, "owner", None), "temperatures": temperatures_json(machine),
            "position": position, "job": job_json(b), "error": None if error is None else str(error),
            "firmware": {str(k): str(v) for k, v in (getattr(machine, "firmware_info", None) or {}).items()}}


def _require(b: WebBackend) -> Any:
    if b.machine is None:
        raise NotConnectedError("machine: not connected; connect it on the Machine page first")
    return b.machine


@router.get("/machine", response_model=MachineOut)
def get_machine(b: Backend) -> dict[str, Any]:
    """State, lease owner, temperatures (actual/target per heater), position and the print job."""
    return machine_json(b)


@router.post("/machine/connect", response_model=MachineOut)
def connect(body: ConnectIn, b: Backend) -> dict[str, Any]:
    """Connect to `url` (virtual://, a device path, socket://host:port ...), `baud` for serial ports."""
    url = body.url.strip()
    if body.baud and "baud=" not in url and not url.startswith(("virtual:", "socket:", "tcp:", "loop:")):
        url += ("&" if "?" in url else "?") + f"baud={body.baud}"
    with _connect_lock:  # two clicks must not open two links
        b.connect_machine(url)
        b.hub.emit("MachineConnected", {"url": url})
    return machine_json(b)


@router.post("/machine/disconnect", response_model=MachineOut)
def disconnect(b: Backend) -> dict[str, Any]:
    with _connect_lock:
        _require(b).disconnect()
        b.hub.emit("MachineDisconnected", {})
    return machine_json(b)


@router.post("/machine/send", response_model=TerminalOut)
def send_line(body: SendIn, b: Backend, after: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """Send one line from the terminal; refused (409, naming the owner) while a lease is held."""
    line = body.line.strip()
    if not line or "\n" in line or "\r" in line:
        raise UserError("line: expected one non-empty line of G-code")
    _require(b).send(line, owner="terminal")
    return terminal(b, after)


@router.get("/machine/terminal", response_model=TerminalOut)
def terminal(b: Backend, after: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """All traffic (sent and received) after sequence number `after`."""
    lines, last = b.terminal.after(after)
    return {"lines": [{"seq": s, "time": t, "direction": d, "line": text} for s, t, d, text in lines], "next": last}


@router.get("/machine/temperatures", response_model=TemperaturesOut)
def temperature_history(b: Backend) -> dict[str, Any]:
    """Samples of the last minutes (1 Hz), for the chart."""
    return {"samples": [{"time": t, "values": v} for t, v in list(b.temperatures)]}


@router.post("/machine/print", response_model=JobOut, status_code=202)
def print_document(b: Backend) -> dict[str, Any]:
    """Stream the open document to the machine under a lease, with progress."""
    document = b.require_document()
    machine = _require(b)
    current = job_json(b)
    if current is not None and current["state"] in ("running", "paused"):
        raise StateConflict("job: a print job is already running; cancel it first")
    lines = [line.raw for line in document]
    if not lines:  # else a job would start and be "done" at once, having sent nothing
        raise StateConflict("document: the document has no lines to print")
    b.job = machine.print_lines(lines, name=b.documents.name or "document")
    b.hub.emit("PrintStarted", {"name": b.documents.name, "total": len(lines)})
    found = job_json(b)
    assert found is not None
    return found


@router.post("/machine/job/{action}", response_model=JobOut)
def job_control(action: str, b: Backend) -> dict[str, Any]:
    """`pause`, `resume` or `cancel` the print job."""
    job = getattr(b, "job", None)
    if job is None:
        raise StateConflict("job: no print job")
    if action not in ("pause", "resume", "cancel"):
        raise UserError(f"action: expected pause, resume or cancel, got {action!r}")
    state = str(job.progress.state)
    if state in ENDED:  # the machine would act on whatever it does now, not on this job
        raise StateConflict(f"job: the print job {job.name} already ended ({state}); nothing to {action}")
    getattr(job, action)()
    b.hub.emit(f"Print{action.capitalize()}d" if action != "cancel" else "PrintCancelled", {"name": job.name})
    found = job_json(b)
    assert found is not None
    return found


@router.post("/machine/emergency-stop", response_model=OkOut)
def emergency_stop(b: Backend) -> dict[str, Any]:
    """M112: halts the firmware at once (a reconnect is needed afterwards)."""
    _require(b).emergency_stop()
    return {"ok": True, "message": "emergency stop sent"}
