"""Fan-out of event envelopes to every SSE client, plus a short replay buffer for the Events page.

One synchronous subscription on the host's EventBus feeds the hub (events are published
from worker-RPC and machine threads); each SSE client owns an asyncio queue filled with
`call_soon_threadsafe`, so a slow browser never blocks a publisher. A client that falls
more than `QUEUE_LIMIT` events behind gets a `StreamOverflow` notice and is dropped: its
EventSource reconnects and re-reads state, which beats unbounded memory.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scriptdeck.errors import UserError

QUEUE_LIMIT = 2_000


class StateConflict(UserError):
    """The request is fine but the dashboard's state does not allow it now (HTTP 409)."""
REPLAY = 500


def envelope(event: str, payload: Mapping[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """The runtime's envelope shape, for events the web layer itself originates."""
    return {"event": event, "payload": dict(payload), "run_id": run_id,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds")}


def normalise(raw: Any) -> dict[str, Any]:
    """Accept an envelope as a dict or as an object with to_json()/attributes."""
    if isinstance(raw, Mapping):
        data = dict(raw)
    elif hasattr(raw, "to_json"):
        data = dict(raw.to_json())
    else:
        data = {k: getattr(raw, k, None) for k in ("event", "payload", "run_id", "time")}
    data.setdefault("payload", {})
    data.setdefault("run_id", None)
    if not data.get("time"):
        data["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    elif not isinstance(data["time"], str):
        data["time"] = str(data["time"])
    if data.get("run_id") is not None:
        data["run_id"] = str(data["run_id"])
    return data


@dataclass
class _Client:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any] | None]
    dropped: bool = False


@dataclass
class EventHub:
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY))
    _clients: dict[int, _Client] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def publish(self, raw: Any) -> None:
        """Thread-safe; called synchronously by the EventBus (or by the web layer itself)."""
        env = normalise(raw)
        with self._lock:
            self.recent.append(env)
            clients = list(self._clients.values())
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(self._deliver, client, env)
            except RuntimeError:  # that client's loop is gone (server shutting down)
                client.dropped = True

    def emit(self, event: str, payload: Mapping[str, Any], run_id: str | None = None) -> None:
        self.publish(envelope(event, payload, run_id))

    @staticmethod
    def _deliver(client: _Client, env: dict[str, Any]) -> None:
        if client.dropped:
            return
        if client.queue.qsize() >= QUEUE_LIMIT:
            client.dropped = True
            client.queue.put_nowait(envelope("StreamOverflow", {"limit": QUEUE_LIMIT}))
            client.queue.put_nowait(None)
            return
        client.queue.put_nowait(env)

    def reopen(self) -> None:
        with self._lock:
            self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(client.queue.put_nowait, None)
            except RuntimeError:
                pass

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    async def stream(self, heartbeat: float = 15.0) -> AsyncIterator[bytes]:
        """SSE frames for one client: `data: <envelope JSON>`, with comment heartbeats."""
        client = _Client(asyncio.get_running_loop(), asyncio.Queue())
        with self._lock:
            if self._closed:
                return
            key = next(self._ids)
            self._clients[key] = client
        try:
            # Tell the browser how fast to reconnect, and that the stream is live.
            yield b"retry: 1000\n: connected\n\n"
            while True:
                try:
                    env = await asyncio.wait_for(client.queue.get(), heartbeat)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if env is None:
                    return
                # Unnamed frames: a browser's EventSource.onmessage sees every event; the
                # envelope's "event" key carries the name.
                yield f"data: {json.dumps(env, default=str)}\n\n".encode()
        finally:
            with self._lock:
                self._clients.pop(key, None)
