"""Events: the live server-sent-event stream at /api/events and the recent-events replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from scriptdeck.web.backend import WebBackend
from scriptdeck.web.models import EventsOut
from scriptdeck.web.routes import backend

router = APIRouter(tags=["events"])
Backend = Annotated[WebBackend, Depends(backend)]


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "one `data: <envelope JSON>` frame per event"}})
async def event_stream(request: Request, b: Backend) -> StreamingResponse:
    """Every event as server-sent events; `data` is the envelope `{event, payload, run_id, time}`."""
    return StreamingResponse(
        b.hub.stream(), media_type="text/event-stream",
        # no-transform/X-Accel-Buffering: proxies must not buffer a live stream.
        headers={"cache-control": "no-cache, no-transform", "x-accel-buffering": "no"},
    )


@router.get("/events/recent", response_model=EventsOut)
def recent_events(b: Backend, limit: Annotated[int, Query(ge=1, le=500)] = 200,
                  event: str | None = None) -> dict[str, Any]:
    """The last events (newest last), for a page opened after they happened."""
    items = [e for e in list(b.hub.recent) if event is None or e.get("event") == event]
    return {"events": items[-limit:]}
