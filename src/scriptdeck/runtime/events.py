"""The event bus: every state change of a run, a plugin list or a machine is announced here.

An event is a name and a plain-dict payload, delivered in an envelope::

    {"event": "AutomationScriptStarted", "payload": {"id": "Purge", "title": "Purge line"},
     "run_id": "3f2a...", "time": "2024-05-01T12:00:00.123+00:00"}

Subscribers are called synchronously in the publishing thread (keep them quick); async
consumers (the dashboard's server-sent events) iterate `bus.stream()` and may publish from
any thread. The seed's automation event names and payload keys are byte-exact.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, TypedDict

log = logging.getLogger(__name__)

# -- seed 000 (automation scripts): names and payload keys must not change -------------------
AUTOMATION_STARTED = "AutomationScriptStarted"  # {id, title}
AUTOMATION_FINISHED = "AutomationScriptFinished"  # {id, title, result}
AUTOMATION_FAILED = "AutomationScriptFailed"  # {id, title, failure_reason}
AUTOMATION_ERROR = "AutomationScriptError"  # {id, title, error}
AUTOMATION_STATUS = "AutomationScriptStatusChanged"  # {id, title, status}
AUTOMATION_CANCELLED = "AutomationScriptCancelled"  # {id, title}

# -- actions (seed 004) ----------------------------------------------------------------------
ACTION_STARTED = "ActionStarted"  # {id, label}
ACTION_FINISHED = "ActionFinished"  # {id, label, changed}
ACTION_ERROR = "ActionError"  # {id, label, error}
ACTION_CANCELLED = "ActionCancelled"  # {id, label}

# -- formats (seed 004) ----------------------------------------------------------------------
FORMAT_STARTED = "FormatStarted"  # {id, label, direction, filename}
FORMAT_OPENED = "FormatOpened"  # {id, label, direction, filename}
FORMAT_SAVED = "FormatSaved"  # {id, label, direction, filename}
FORMAT_FAILED = "FormatFailed"  # {id, label, direction, filename, messages}  import_export.error
FORMAT_ERROR = "FormatError"  # {id, label, direction, filename, error}
FORMAT_CANCELLED = "FormatCancelled"  # {id, label, direction, filename}

# -- every kind of run -----------------------------------------------------------------------
RUN_LOG = "RunLog"  # {id, level, message, time, exc_text}   a logger record / plugin output
RUN_MESSAGE = "RunMessage"  # {id, level, title, message}     window.* / import_export.* message
RUN_PROGRESS = "RunProgress"  # {id, value, maximum}           import_export.progress*
RUN_PROMPT = "RunPrompt"  # {id, request_id, kind, title, message, options, default}
RUN_PROMPT_ANSWERED = "RunPromptAnswered"  # {id, request_id, value}
SETTINGS_SAVED = "SettingsSaved"  # {id, key, values}   values persisted by an automation script

# -- discovery -------------------------------------------------------------------------------
MACHINE_WARNING = "MachineWarning"  # {message}   e.g. a script's on-connect commands failed
PLUGINS_CHANGED = "PluginsChanged"  # {plugins: [ids], services: [ids]}


class Envelope(TypedDict):
    event: str
    payload: dict[str, Any]
    run_id: str | None
    time: str


Subscriber = Callable[[Envelope], None]


def now_iso() -> str:
    """The current UTC time, ISO-8601 with milliseconds (the envelope's `time`)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _AsyncSink:
    """One `stream()` consumer: a queue owned by its event loop, fed thread-safely."""

    def __init__(self, loop: asyncio.AbstractEventLoop, names: frozenset[str] | None, maxsize: int) -> None:
        self.loop = loop
        self.names = names
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, envelope: Envelope) -> None:
        if self.names is None or envelope["event"] in self.names:
            try:
                self.loop.call_soon_threadsafe(self._put, envelope)
            except RuntimeError:  # the consumer's loop is closed; it will unsubscribe itself
                pass

    def _put(self, envelope: Envelope) -> None:
        # A slow browser must never block a run: drop its oldest event, never the publisher.
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(envelope)


class EventBus:
    """Publish named events; subscribe synchronously or iterate asynchronously.

    >>> bus = EventBus()
    >>> seen = []
    >>> unsubscribe = bus.subscribe(seen.append)
    >>> _ = bus.publish("PluginsChanged", {"plugins": [], "services": []})
    >>> seen[0]["event"]
    'PluginsChanged'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []
        self._sinks: list[_AsyncSink] = []

    def subscribe(self, callback: Subscriber, names: Collection[str] | None = None) -> Callable[[], None]:
        """Call `callback(envelope)` for every event (or only those in `names`); returns an unsubscribe."""
        entry = (callback, frozenset(names) if names is not None else None)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def publish(self, event: str, payload: dict[str, Any], run_id: str | None = None) -> Envelope:
        """Deliver one event to every subscriber and stream; safe from any thread."""
        envelope: Envelope = {"event": event, "payload": payload, "run_id": run_id, "time": now_iso()}
        with self._lock:
            subscribers = list(self._subscribers)
            sinks = list(self._sinks)
        for callback, names in subscribers:
            if names is not None and event not in names:
                continue
            try:
                callback(envelope)
            except Exception:  # one broken subscriber must not break a run or the others
                log.exception("event subscriber %r failed on %s", callback, event)
        for sink in sinks:
            sink.offer(envelope)
        return envelope

    def stream(self, names: Collection[str] | None = None, maxsize: int = 1000) -> EventStream:
        """Iterate events published from this call on: ``async for envelope in bus.stream(): ...``.

        Must be called inside a running event loop. A consumer slower than the publishers loses
        its oldest undelivered events (at most `maxsize` are kept), never blocks them. Close it
        with ``await stream.aclose()`` or ``async with bus.stream() as events:``.
        """
        sink = _AsyncSink(asyncio.get_running_loop(), frozenset(names) if names is not None else None, maxsize)
        with self._lock:
            self._sinks.append(sink)
        return EventStream(self, sink)

    def _detach(self, sink: _AsyncSink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)


class EventStream:
    """An async iterator over a bus's events; registered as soon as it is created."""

    def __init__(self, bus: EventBus, sink: _AsyncSink) -> None:
        self._bus = bus
        self._sink = sink
        self._closed = False

    @property
    def dropped(self) -> int:
        """How many events this consumer lost because it fell behind."""
        return self._sink.dropped

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Envelope:
        if self._closed:
            raise StopAsyncIteration
        return await self._sink.queue.get()

    async def aclose(self) -> None:
        self._closed = True
        self._bus._detach(self._sink)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
