"""Opening links by URL: a bad URL is refused with a ProtocolError naming the part, the value and the rule."""

from __future__ import annotations

import socket

import pytest

from scriptdeck.errors import ProtocolError
from scriptdeck.machine.transport import open_transport


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("tcp://127.0.0.1:99999", r"port has value '99999'; expected an integer 1\.\.65535"),
        ("tcp://127.0.0.1:abc", r"port has value 'abc'; expected an integer 1\.\.65535"),
        ("tcp://127.0.0.1:0", r"port has value '0'"),
        ("tcp://127.0.0.1:-1", r"port has value '-1'"),
        ("tcp://[::1]:70000", r"port has value '70000'"),
        ("tcp://127.0.0.1", r"no port; expected tcp://HOST:PORT"),
        ("tcp://:8080", r"no host; expected tcp://HOST:PORT"),
        ("tcp://[::1", r"machine URL 'tcp://\[::1': Invalid IPv6 URL"),
        # pyserial's own message for this one is about logging levels
        ("socket://localhost:abc", r"port has value 'abc'; expected an integer 1\.\.65535"),
        ("socket://localhost", r"no port; expected socket://HOST:PORT"),
        ("rfc2217://localhost:99999", r"port has value '99999'"),
    ],
)
def test_bad_host_port_is_named(url: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        open_transport(url)


@pytest.mark.parametrize("baud", ["", "0", "-5", "abc", "1.5", "١٢"])
@pytest.mark.parametrize("base", ["loop://", "/dev/null"])
def test_baud_must_be_a_positive_integer(base: str, baud: str) -> None:
    url = f"{base}?baud={baud}"
    with pytest.raises(ProtocolError, match=rf"parameter 'baud' has value '{baud}'; expected a positive integer"):
        open_transport(url)


@pytest.mark.parametrize("baud", ["12345", "250000"])
def test_nonstandard_baud_is_accepted(baud: str) -> None:
    t = open_transport(f"loop://?baud={baud}")
    try:
        t.write(b"M105\n")
        assert t.read(1.0) == b"M105\n"
    finally:
        t.close()


def test_tcp_with_a_good_port_gets_as_far_as_connecting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        t = open_transport(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        t.close()
