"""`scriptdeck serve`: the web dashboard on a machine, opened with the login URL it prints."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from typing import Any

from scriptdeck.cli import _context
from scriptdeck.errors import UserError


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="start the web dashboard (prints its login URL)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                   "anything but loopback needs --token)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--machine", default="virtual://", metavar="URL",
                   help="machine to connect to: virtual:// (default), a device path, socket://host:port ...")
    p.add_argument("--no-connect", action="store_true", help="do not connect to the machine at start")
    p.add_argument("--abort-line", action="append", default=[], metavar="GCODE",
                   help="sent after M108/M410 when a run or print is cancelled, e.g. 'M104 S0' (repeatable)")
    p.add_argument("--token", default=None, help="login token (default: $SCRIPTDECK_TOKEN, else a fresh random one)")
    p.add_argument("--max-upload-mb", type=float, default=200.0, metavar="N", help="largest upload accepted (default 200)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="an extra Host header name to accept (a DNS name this server is reached by)")
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from scriptdeck.host import Host
    from scriptdeck.web.app import create_app, login_url
    from scriptdeck.web.backend import WebConfig

    if args.max_upload_mb <= 0:
        raise UserError(f"--max-upload-mb: expected a positive number, got {args.max_upload_mb}")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port: expected 0..65535, got {args.port}")
    _refuse_port_in_use(args.host, args.port)
    token = args.token or os.environ.get("SCRIPTDECK_TOKEN") or None
    data = _context.data_path(args)
    config = WebConfig(host=args.host, port=args.port, token=token, data_dir=data,
                       max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), allowed_hosts=frozenset(args.allow_host))
    host = Host(data, plugin_paths=args.plugin_path, include_examples=not args.no_examples, machine_url=args.machine,
                abort_lines=args.abort_line)
    try:
        app = create_app(host, config)  # refuses a non-loopback bind without a token
        if not args.no_connect:
            try:
                app.state.backend.connect_machine(args.machine)
            except Exception as exc:  # the dashboard still starts; Connect is one click away
                print(f"warning: could not connect to {args.machine}: {exc}", file=sys.stderr)
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                               timeout_graceful_shutdown=2))
        original = server.startup

        async def startup(sockets: Any = None) -> None:
            await original(sockets)
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else args.port
            config.port = bound
            url = login_url(config, app.state.token)
            print(f"scriptdeck dashboard on {args.machine}\n    open {url}\n(Ctrl-C to stop)", flush=True)

        server.startup = startup  # type: ignore[method-assign]

        def handle_exit(sig: int, frame: Any) -> None:
            # End the live event streams at once: uvicorn waits for open connections before it stops.
            app.state.hub.close()
            # Not uvicorn's own handler: it re-raises the signal once shut down, so Ctrl-C, the documented
            # way to stop, became a KeyboardInterrupt and exit 1; and it makes a second Ctrl-C skip the app's
            # shutdown, which logs a traceback. Shutting down takes at most timeout_graceful_shutdown.
            server.should_exit = True

        server.handle_exit = handle_exit  # type: ignore[method-assign]
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C before uvicorn listens (while connecting to the machine) is a stop too: exit 0
    finally:
        host.close()
    return 0


def _refuse_port_in_use(host: str, port: int) -> None:
    """A busy port, said in terms of --port before anything starts: uvicorn would only log the
    OSError and exit 3. Binds as asyncio's create_server does (SO_REUSEADDR, IPv6-only sockets),
    so a port in TIME_WAIT is not called busy; any other bind problem is left to uvicorn."""
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise UserError(
                        f"--port: port {port} on {host} is already in use; expected a free port "
                        "(stop the other server, or pass --port 0 to pick a free one)"
                    ) from None
                return
