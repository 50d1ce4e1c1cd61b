"""EventBus: envelopes, synchronous subscribers, async streams fed from other threads."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import pytest

from scriptdeck.runtime.events import Envelope, EventBus

pytestmark = pytest.mark.timeout(30)


def test_envelope_shape_and_iso_time() -> None:
    bus = EventBus()
    seen: list[Envelope] = []
    bus.subscribe(seen.append)
    envelope = bus.publish("AutomationScriptStarted", {"id": "a", "title": "A"}, "run1")
    assert seen == [envelope]
    assert set(envelope) == {"event", "payload", "run_id", "time"}
    assert envelope["payload"] == {"id": "a", "title": "A"}
    assert datetime.fromisoformat(envelope["time"]).tzinfo is not None


def test_name_filter_unsubscribe_and_failing_subscriber() -> None:
    bus = EventBus()
    only: list[str] = []
    everything: list[str] = []

    def broken(_envelope: Envelope) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(lambda e: only.append(e["event"]), {"B"})
    bus.subscribe(lambda e: everything.append(e["event"]))
    bus.publish("A", {})
    bus.publish("B", {})
    unsubscribe()
    bus.publish("B", {})
    assert only == ["B"]
    assert everything == ["A", "B", "B"]


def test_async_stream_receives_events_published_from_threads() -> None:
    bus = EventBus()

    async def consume() -> list[str]:
        stream = bus.stream()
        threads = [threading.Thread(target=bus.publish, args=(f"E{i}", {"i": i})) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        names = [ (await stream.__anext__())["event"] for _ in range(5)]
        await stream.aclose()
        return names

    assert sorted(asyncio.run(consume())) == [f"E{i}" for i in range(5)]


def test_slow_stream_drops_oldest_never_blocks() -> None:
    bus = EventBus()

    async def consume() -> tuple[list[int], int]:
        async with bus.stream(maxsize=3) as stream:
            for i in range(10):
                bus.publish("E", {"i": i})
            await asyncio.sleep(0)  # let the loop run the scheduled puts
            got = [(await stream.__anext__())["payload"]["i"] for _ in range(3)]
            return got, stream.dropped

    got, dropped = asyncio.run(consume())
    assert got == [7, 8, 9]
    assert dropped == 7
