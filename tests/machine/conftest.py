"""Fixtures for the machine tests: a scripted firmware, virtual machines, a pty printer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from scriptdeck.errors import NotConnectedError
from scriptdeck.machine import Machine, Sender, SenderConfig
from scriptdeck.machine.virtual import VirtualOptions
from scriptdeck.machine.virtual_pty import PtyPrinter

Responder = Callable[[str], "str | None"]


class ScriptedFirmware:
    """A Transport whose replies a test writes: ``respond(line) -> reply text or None``."""

    description = "scripted://"

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.written: list[str] = []
        self._out = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self._partial = b""

    def push(self, text: str | bytes) -> None:
        with self._cond:
            self._out += text if isinstance(text, bytes) else text.encode()
            self._cond.notify_all()

    def write(self, data: bytes) -> None:
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        for raw in lines:
            line = raw.decode()
            self.written.append(line)
            reply = self.respond(line)
            if reply:
                self.push(reply if reply.endswith("\n") else reply + "\n")

    def read(self, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._out:
                if self._closed:
                    raise NotConnectedError("scripted://: machine disconnected")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return b""
                self._cond.wait(remaining)
            data = bytes(self._out)
            self._out.clear()
            return data

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@pytest.fixture
def scripted() -> Iterator[Callable[..., tuple[Sender, ScriptedFirmware]]]:
    """``sender, fw = scripted(respond, flow=..., rx_size=..., ack_timeout=...)``; closed afterwards."""
    made: list[Sender] = []

    def make(respond: Responder, **config: object) -> tuple[Sender, ScriptedFirmware]:
        fw = ScriptedFirmware(respond)
        sender = Sender(fw, SenderConfig(**config))  # type: ignore[arg-type]
        sender.start()
        made.append(sender)
        return sender, fw

    yield make
    for s in made:
        s.close()


@pytest.fixture
def machine_factory() -> Iterator[Callable[..., Machine]]:
    """``machine_factory(url, **kwargs)`` → a connected Machine, disconnected afterwards."""
    made: list[Machine] = []

    def make(url: str = "virtual://", connect: bool = True, **kwargs: object) -> Machine:
        kwargs.setdefault("temp_interval", 0)
        m = Machine(url, **kwargs)  # type: ignore[arg-type]
        made.append(m)
        if connect:
            m.connect()
        return m

    yield make
    for m in made:
        m.disconnect()


@pytest.fixture
def pty_printer() -> Iterator[Callable[..., PtyPrinter]]:
    """``pty_printer(**VirtualOptions fields)`` → a started PtyPrinter, closed afterwards."""
    made: list[PtyPrinter] = []

    def make(**options: object) -> PtyPrinter:
        p = PtyPrinter(VirtualOptions(**options)).start()  # type: ignore[arg-type]
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def ok_responder(line: str) -> str:
    return "ok"
