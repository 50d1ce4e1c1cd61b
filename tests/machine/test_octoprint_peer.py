"""Peer test: OctoPrint's bundled VirtualPrinter (someone else's simulator) as the serial object.

Its default injected errors stay on (lines 100 resend, 105 resend-then-ignore, 110 missing
line number, 115 checksum mismatch). Its quirks: non-daemon threads (always close() it),
readline() that may return without "\\n", "Resend:N" without a space, "wait" lines, a 64-byte RX.
"""

from __future__ import annotations

from typing import Any

import pytest

from scriptdeck.machine import Machine
from scriptdeck.machine.mecode_bridge import LeasePort, make_g
from scriptdeck.machine.transport import SerialObjectTransport

vp_module = pytest.importorskip(
    "octoprint.plugins.virtual_printer.virtual", reason="the peer test needs the 'octoprint' package (test extra)"
)

pytestmark = [
    pytest.mark.timeout(60),
    # VirtualPrinter's own buffer thread dies with AttributeError when it is closed.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


class _Settings:
    """The slice of OctoPrint's plugin settings VirtualPrinter reads: its own defaults."""

    def __init__(self) -> None:
        from octoprint.plugins.virtual_printer import VirtualPrinterPlugin

        self.values: dict[str, Any] = VirtualPrinterPlugin().get_settings_defaults()
        self.values["simulateReset"] = True

    def _get(self, path: list[str]) -> Any:
        value: Any = self.values
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def get(self, path: list[str], **kwargs: Any) -> Any:
        return self._get(path)

    def get_int(self, path: list[str], **kwargs: Any) -> int:
        return int(self._get(path) or 0)

    def get_float(self, path: list[str], **kwargs: Any) -> float:
        return float(self._get(path) or 0)

    def get_boolean(self, path: list[str], **kwargs: Any) -> bool:
        return bool(self._get(path))

    def global_get_basefolder(self, name: str, **kwargs: Any) -> str:
        return self.folder


def test_automation_run_against_octoprint_virtual_printer(tmp_path, monkeypatch) -> None:
    from octoprint.plugins.virtual_printer import virtual

    monkeypatch.setattr(virtual, "plugin_manager", lambda: type("PM", (), {"get_hooks": lambda self, n: {}})())
    settings = _Settings()
    settings.folder = str(tmp_path)
    (tmp_path / "sd").mkdir()
    vp = virtual.VirtualPrinter(settings, None, str(tmp_path), read_timeout=0.2, write_timeout=5)
    machine = Machine("octoprint-virtual", flow="pingpong", rx_size=64, ack_timeout=10, temp_interval=0,
                      transport_factory=lambda url: SerialObjectTransport(vp, "octoprint VirtualPrinter",
                                                                          use_readline=True))
    try:
        machine.connect()
        lease = machine.lease("peer script")
        g = make_g(LeasePort(lease))
        g.write("G90")
        for i in range(140):  # past the injected errors at lines 100..115
            g.abs_move(x=i % 50, y=(i * 3) % 40)
        assert g.write("M105", resp_needed=True).startswith("ok")
        pos = g._p.current_position()
        g.teardown()
        lease.release()
        # The run completes through all four injected errors. Known gap: the final position
        # reported is not always the last move's (see docs/machines.md, "peer test").
        assert set(pos) >= {"X", "Y", "Z"}
    finally:
        machine.disconnect()
        vp.close()
