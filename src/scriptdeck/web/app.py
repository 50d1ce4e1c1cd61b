"""The dashboard's FastAPI application: `create_app(host, config)`.

Layers, outermost first: Host-header/auth/CSRF (auth.py), the upload size limit, then the
routes of each area (routes/). Every error a user can cause is a 4xx JSON body
`{"error": ..., "field": ...}`; scriptdeck's own exceptions are mapped here once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from scriptdeck import errors
from scriptdeck.settings.fields import describe
from scriptdeck.web.auth import (
    AuthMiddleware,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    TokenAuth,
    is_loopback,
)
from scriptdeck.web.backend import SettingsProblems, WebBackend, WebConfig
from scriptdeck.web.hub import EventHub, StateConflict
from scriptdeck.web.models import ErrorOut

STATIC = Path(__file__).parent / "static"
_FIELD = re.compile(r"^([A-Za-z_][\w.\-\[\]]*): ")

# scriptdeck's exceptions → HTTP status. Order matters: the first matching class wins.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (errors.UnknownServiceError, 404),
    (StateConflict, 409),
    (errors.SettingsError, 400),
    (errors.FormatChoiceError, 400),
    (errors.ManifestError, 400),
    (errors.UserError, 400),
    (errors.AlreadyRunningError, 409),
    (errors.MachineBusyError, 409),
    (errors.NotConnectedError, 409),
    (errors.FirmwareHaltError, 409),
    (errors.AckTimeoutError, 504),
    (errors.ProtocolError, 400),
    (errors.MachineError, 409),
    (errors.RunError, 409),
)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}


def error_body(exc: Exception) -> dict[str, Any]:
    """`{"error": message, "field": name}`; the field is the `name:` prefix scriptdeck messages carry.

    Several settings problems add `errors`, one such body each (the first is also `error`/`field`).
    """
    message = str(exc) or type(exc).__name__
    match = _FIELD.match(message)
    body: dict[str, Any] = {"error": message, "field": match.group(1) if match else None}
    if isinstance(exc, SettingsProblems):
        body["errors"] = [error_body(problem) for problem in exc.problems]
    return body


def validation_body(request: Request, exc: RequestValidationError) -> dict[str, Any]:
    """The 422 body for a request that does not match the API's schema: the first problem,
    named like scriptdeck's own errors (`field: rule, got value`), plus pydantic's details."""
    problems = exc.errors()
    first = problems[0] if problems else {}
    kind = first.get("type")
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field: str | None = ".".join(loc) or None
    if kind == "json_invalid":
        # The loc's last item is a character offset into the body, not a field.
        field = None
        where = _json_position(exc.body, tuple(first.get("loc", ()))[-1:])
        message = f"invalid JSON {where}: {first.get('ctx', {}).get('error', 'JSON decode error')}"
    elif kind == "extra_forbidden":
        allowed = ", ".join(_body_keys(request)) or "none"
        message = f"{field}: unknown key (this request body takes: {allowed})"
    else:
        rule = str(first.get("msg", "invalid value"))
        message = f"{field or 'request'}: {rule[:1].lower()}{rule[1:]}"
        value = first.get("input")
        if isinstance(value, str | int | float | bool) and kind != "missing":
            message += f", got {describe(value)}"
    return {"error": message, "field": field, "details": problems if len(str(problems)) < 4000 else None}


def _json_position(body: Any, loc_tail: tuple[Any, ...]) -> str:
    """`at line L, column C` for a character offset into the body (as json's own messages count)."""
    offset = loc_tail[0] if loc_tail and isinstance(loc_tail[0], int) else None
    if offset is None:
        return "in the request body"
    if not isinstance(body, str):
        return f"at character {offset}"
    line = body.count("\n", 0, offset) + 1
    column = offset - body.rfind("\n", 0, offset)
    return f"at line {line}, column {column}"


def _body_keys(request: Request) -> list[str]:
    """The keys the route's body model accepts (empty when the route has none we can see)."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def status_for(exc: Exception) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def make_auth(config: WebConfig) -> tuple[TokenAuth, str]:
    """The TokenAuth for this server and the token to print (a fresh one unless configured)."""
    if not is_loopback(config.host) and not config.token:
        raise errors.UserError(
            f"--host: refusing to listen on {config.host} (not loopback) without a configured token; "
            "pass --token or set $SCRIPTDECK_TOKEN"
        )
    token = config.token or secrets.token_urlsafe(24)
    auth = TokenAuth.create(token, config.data_dir, bind_host=config.host, extra_hosts=config.allowed_hosts)
    return auth, token


def create_app(
    host: Any, config: WebConfig | None = None, *, machine: Any = None, auth: TokenAuth | None = None
) -> FastAPI:
    """The dashboard for `host` (a `scriptdeck.Host`) and its `machine` (a `scriptdeck.machine.Machine`).

    `app.state.token` holds the login token when one was generated or configured.
    """
    config = config or WebConfig()
    token = config.token
    if auth is None:
        auth, token = make_auth(config)
    hub = EventHub()
    backend = WebBackend(host, config, hub, machine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()

    app = FastAPI(
        title="scriptdeck",
        summary="Plugin host for G-code machines: the dashboard's JSON API.",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.backend = backend
    app.state.hub = hub
    app.state.auth = auth
    app.state.token = token
    app.state.config = config

    async def scriptdeck_error(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_for(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(validation_body(request, exc), status_code=422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and not request.url.path.startswith("/api/"):
            return FileResponse(STATIC / "index.html")  # deep links like /machine are the SPA's
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"error": detail, "field": None}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_exception_handler(errors.ScriptdeckError, scriptdeck_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    from scriptdeck.web.routes import include_all

    include_all(app)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Middleware added last runs first: auth sees the request before the body limit.
    app.add_middleware(BodyLimitMiddleware, limit=config.max_upload_bytes)
    app.add_middleware(AuthMiddleware, auth=auth)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: refusals get the headers too
    return app


def login_url(config: WebConfig, token: str | None) -> str:
    host = config.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{config.port}/"
    return f"{base}?token={token}" if token else base
