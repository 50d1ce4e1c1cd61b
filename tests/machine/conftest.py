"""Fixtures for the machine tests: a scripted firmware, virtual machines, a pty printer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from scriptdeck.machine import Machine, Sender, SenderConfig
from scriptdeck.machine.transport import QueueTransport
from scriptdeck.machine.virtual import VirtualOptions
from scriptdeck.machine.virtual_pty import PtyPrinter

Responder = Callable[[str], "str | None"]


class ScriptedFirmware(QueueTransport):
    """A Transport whose replies a test writes: ``respond(line) -> reply text or None``."""

    description = "scripted://"

    def __init__(self, respond: Responder) -> None:
        super().__init__()
        self.respond = respond
        self.written: list[str] = []
        self._partial = b""

    def push(self, text: str | bytes) -> None:
        self._deliver(text if isinstance(text, bytes) else text.encode())

    def write(self, data: bytes) -> None:
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        for raw in lines:
            line = raw.decode()
            self.written.append(line)
            reply = self.respond(line)
            if reply:
                self.push(reply if reply.endswith("\n") else reply + "\n")


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
