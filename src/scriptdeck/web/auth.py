"""Who may talk to the dashboard: a login token, cookie sessions, CSRF and a Host-header check.

The token works like Jupyter's: `serve` prints a login URL carrying it; opening that URL
trades the token for an HttpOnly session cookie and redirects to a clean URL. Scripts pass
it as `Authorization: Bearer <token>` or `?token=`. Only a salted scrypt hash is kept (in
memory and in the data dir), so a leaked data dir does not leak the token.

Checks, in order, for every request (pure ASGI, so SSE streams are not buffered):

1. Host header is loopback or the configured bind host (DNS rebinding) → else 403.
2. Authenticated by session cookie, bearer header or `?token=` → else 401 (an HTML login
   page for browsers asking for a page).
3. A cookie-authenticated unsafe method carries `X-CSRF-Token` equal to the `scriptdeck_csrf`
   cookie (double submit) → else 403. Bearer/query-token callers are not cookie-borne, so
   they cannot be forged cross-site and need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from scriptdeck.errors import UserError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "scriptdeck_session"
CSRF_COOKIE = "scriptdeck_csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_FILE = "web-token.json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Paths reachable without a session: the login form itself and its POST target.
PUBLIC_PATHS = frozenset({"/login"})


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback IP literal (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hash(token: str, salt: bytes) -> bytes:
    # scrypt: memory-hard, in the standard library; n=2**14 costs ~20 ms once per new token.
    return hashlib.scrypt(token.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


@dataclass
class TokenAuth:
    """The configured token (hashed), live sessions, and the policy knobs."""

    salt: bytes
    digest: bytes
    bind_host: str = "127.0.0.1"
    extra_hosts: frozenset[str] = frozenset()
    secure_cookies: bool = False
    _verified: set[bytes] = field(default_factory=set)  # sha256 of tokens already checked
    _sessions: dict[str, str] = field(default_factory=dict)  # session id -> csrf token
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        token: str,
        data_dir: Path | None = None,
        *,
        bind_host: str = "127.0.0.1",
        extra_hosts: frozenset[str] = frozenset(),
    ) -> TokenAuth:
        """Hash `token`; store the hash (never the token) in `data_dir` when given."""
        if not token:
            raise UserError("token: must not be empty")
        salt = secrets.token_bytes(16)
        auth = cls(salt, _hash(token, salt), bind_host=bind_host, extra_hosts=extra_hosts)
        auth._verified.add(hashlib.sha256(token.encode()).digest())
        if data_dir is not None:
            auth.save(data_dir / TOKEN_FILE)
        return auth

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"algorithm": "scrypt", "n": 2**14, "r": 8, "p": 1, "salt": self.salt.hex(), "hash": self.digest.hex()}
        tmp = path.with_suffix(".tmp")
        # 0600: the hash is not the token, but there is no reason for others to read it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        tmp.replace(path)

    def check_token(self, token: str) -> bool:
        if not token:
            return False
        quick = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if quick in self._verified:
                return True
        ok = hmac.compare_digest(_hash(token, self.salt), self.digest)
        if ok:
            with self._lock:
                self._verified.add(quick)
        return ok

    def new_session(self) -> tuple[str, str]:
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = csrf
        return session, csrf

    def session_csrf(self, session: str) -> str | None:
        with self._lock:
            return self._sessions.get(session)

    def end_session(self, session: str) -> None:
        with self._lock:
            self._sessions.pop(session, None)

    def host_allowed(self, host_header: str) -> bool:
        host = host_header.strip().lower()
        if host.startswith("["):
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if not name:
            return False
        if is_loopback(name):
            return True
        allowed = {self.bind_host.strip("[]").lower(), *(h.lower() for h in self.extra_hosts)}
        allowed.discard("0.0.0.0")  # a wildcard bind allows no name by itself
        allowed.discard("::")
        return name in allowed


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is treated as no cookies
        return {}
    return {k: m.value for k, m in jar.items()}


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": data})


async def send_html(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = text.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(data)).encode()),
                    (b"cache-control", b"no-store"), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": data})


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>scriptdeck · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px system-ui,sans-serif;background:#0f172a;color:#e2e8f0;display:grid;place-items:center;height:100vh;margin:0}}
form{{background:#1e293b;padding:2rem 2.2rem;border-radius:12px;box-shadow:0 10px 30px #0006;width:22rem}}
h1{{font-size:1.25rem;margin:0 0 .3rem}}p{{color:#94a3b8;margin:.2rem 0 1rem;font-size:.9rem}}
input{{width:100%;box-sizing:border-box;padding:.6rem;border-radius:6px;border:1px solid #334155;background:#0f172a;color:inherit}}
button{{margin-top:1rem;width:100%;padding:.6rem;border:0;border-radius:6px;background:#f97316;color:#fff;font-weight:600;cursor:pointer}}
.err{{color:#fca5a5}}</style></head><body><form method="post" action="/login">
<h1>scriptdeck</h1><p>Paste the token that <code>scriptdeck serve</code> printed, or open its login URL.</p>
{error}<input name="token" type="password" autocomplete="current-password" placeholder="token" autofocus>
<input type="hidden" name="next" value="{next}"><button type="submit">Sign in</button></form></body></html>"""


class AuthMiddleware:
    """ASGI middleware enforcing `TokenAuth` on every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, auth: TokenAuth) -> None:
        self.app = app
        self.auth = auth

    def _session_cookies(self, session: str, csrf: str) -> list[tuple[bytes, bytes]]:
        secure = "; Secure" if self.auth.secure_cookies else ""
        return [
            (b"set-cookie", f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict{secure}".encode()),
            # Readable by the page's JS on purpose: it echoes it in X-CSRF-Token (double submit).
            (b"set-cookie", f"{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict{secure}".encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if not self.auth.host_allowed(headers.get("host", "")):
            await send_json(send, 403, {"error": "Host header not allowed (DNS rebinding protection)", "field": "Host"})
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if path == "/login":
            await self._login(scope, receive, send, method, query)
            return
        cookies = _cookies(headers)
        session = cookies.get(SESSION_COOKIE, "")
        csrf = self.auth.session_csrf(session) if session else None
        bearer = headers.get("authorization", "")
        token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
        query_token = (query.get("token") or [""])[0]
        if csrf is not None:
            if method not in SAFE_METHODS and not hmac.compare_digest(
                headers.get(CSRF_HEADER, "").encode(), csrf.encode()
            ) and not (token and self.auth.check_token(token)):
                await send_json(send, 403, {"error": "missing or wrong X-CSRF-Token header", "field": "X-CSRF-Token"})
                return
            await self.app(scope, receive, send)
            return
        if token and self.auth.check_token(token):
            await self.app(scope, receive, send)
            return
        if query_token and self.auth.check_token(query_token):
            if method == "GET" and not path.startswith("/api/") and path != "/openapi.json":
                # A login URL: trade the token for a session and drop it from the address bar.
                session, csrf = self.auth.new_session()
                rest = {k: v for k, v in query.items() if k != "token"}
                target = path + ("?" + urlencode(rest, doseq=True) if rest else "")
                await send({"type": "http.response.start", "status": 303,
                            "headers": [(b"location", target.encode()), (b"content-length", b"0"),
                                        *self._session_cookies(session, csrf)]})
                await send({"type": "http.response.body", "body": b""})
                return
            await self.app(scope, receive, send)
            return
        wants_html = "text/html" in headers.get("accept", "") and not path.startswith("/api/")
        if wants_html and method == "GET":
            await send_html(send, 401, LOGIN_PAGE.format(error="", next=html.escape(path, quote=True)))
            return
        await send_json(send, 401, {"error": "authentication required: sign in with the login URL, or send "
                                             "'Authorization: Bearer <token>'", "field": "token"},
                        [(b"www-authenticate", b'Bearer realm="scriptdeck"')])

    async def _login(self, scope: Scope, receive: Receive, send: Send, method: str, query: dict[str, list[str]]) -> None:
        if method != "POST":
            await send_html(send, 200, LOGIN_PAGE.format(error="", next="/"))
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 16_384:
                await send_json(send, 413, {"error": "login form too large", "field": "token"})
                return
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = (form.get("next") or ["/"])[0]
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # never an open redirect
        if not self.auth.check_token(token):
            error = '<p class="err">That token is not right.</p>'
            await send_html(send, 401, LOGIN_PAGE.format(error=error, next=html.escape(target, quote=True)))
            return
        session, csrf = self.auth.new_session()
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", target.encode()), (b"content-length", b"0"),
                                *self._session_cookies(session, csrf)]})
        await send({"type": "http.response.body", "body": b""})


class UploadTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes with a 413 JSON body, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _headers(scope).get("content-length")
        message = {"error": f"upload too large: the limit is {self.limit // (1024 * 1024)} MB "
                            f"({self.limit} bytes); start serve with --max-upload-mb to change it",
                   "field": "file", "limit": self.limit}
        if length is not None and length.isdigit() and int(length) > self.limit:
            await send_json(send, 413, message)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise UploadTooLarge
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except UploadTooLarge:
            if not started:
                await send_json(send, 413, message)


class SecurityHeadersMiddleware:
    """Headers every response carries: no framing (clickjacking), no MIME sniffing, no referrer
    (the login URL carries the token until its redirect)."""

    HEADERS: tuple[tuple[bytes, bytes], ...] = (
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in self.HEADERS if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, add_headers)
