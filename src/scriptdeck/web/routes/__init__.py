"""The dashboard's JSON API, one module per area; `include_all` mounts them under /api."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from scriptdeck.web.backend import WebBackend


def backend(request: Request) -> WebBackend:
    """FastAPI dependency: the WebBackend of this app."""
    found: WebBackend = request.app.state.backend
    return found


def fast_json(data: Any) -> Response:
    """A JSON response without FastAPI's response-model pass (for large, already well-formed data)."""
    return Response(json.dumps(data, separators=(",", ":"), allow_nan=False), media_type="application/json")


def include_all(app: FastAPI) -> None:
    from scriptdeck.web.routes import document, events, history, machine, plugins, runs, settings

    for module in (plugins, settings, runs, machine, document, history, events):
        app.include_router(module.router, prefix="/api")
