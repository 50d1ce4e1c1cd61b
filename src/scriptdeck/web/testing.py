"""Run the dashboard in-process for tests and benchmarks: a Host, a virtual machine, uvicorn in a thread.

    with DashboardServer(data_dir, plugin_paths=[...]) as server:
        httpx.get(server.url + "/api/plugins", headers=server.auth_headers)

Always loopback, always a free port, and everything (server thread, machine, worker pool) is
stopped on exit so test runs leave no threads or ResourceWarnings behind.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from scriptdeck.web.backend import WebConfig

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """Host + Machine + FastAPI app, without a server (for TestClient)."""

    def __init__(self, data_dir: Path, plugin_paths: Sequence[str | os.PathLike[str]] = (), *,
                 include_examples: bool = True, machine_url: str = "virtual://?heat_rate=40",
                 connect: bool = True, token: str = TOKEN, max_upload_bytes: int = 200 * 1024 * 1024,
                 watch_interval: float = 1.0) -> None:
        from scriptdeck.host import Host
        from scriptdeck.web.app import create_app

        self.token = token
        self.host = Host(data_dir, plugin_paths=plugin_paths, include_examples=include_examples,
                         machine_url=machine_url)
        self.config = WebConfig(token=token, data_dir=data_dir, max_upload_bytes=max_upload_bytes,
                                watch_interval=watch_interval, sample_interval=0.5)
        self.app = create_app(self.host, self.config)
        if connect:
            self.app.state.backend.connect_machine(machine_url)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def machine(self) -> Any:
        return self.app.state.backend.machine

    def close(self) -> None:
        self.host.close()  # cancels runs, disconnects the machines, stops the workers


class DashboardServer(Stack):
    """A Stack served by uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, data_dir: Path, plugin_paths: Sequence[str | os.PathLike[str]] = (), **options: Any) -> None:
        import uvicorn

        super().__init__(data_dir, plugin_paths, **options)
        self.port = free_port()
        self.config.port = self.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=1, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="dashboard-server", daemon=True)

    def __enter__(self) -> DashboardServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.app.state.hub.close()  # end SSE streams, so the server stops without waiting for them
        self.server.should_exit = True
        self.thread.join(10)
        self.close()
