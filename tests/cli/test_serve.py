"""`scriptdeck serve`: stopped with Ctrl-C it exits 0 quietly; a busy --port is refused by name."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scriptdeck.cli import main

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated")]


def test_port_in_use_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--no-connect"]) == 2
    err = capsys.readouterr().err
    assert f"error: --port: port {port} on 127.0.0.1 is already in use" in err
    assert "Errno" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_stops_quietly_with_exit_0(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scriptdeck", "serve", "--port", "0", "--no-connect"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the login URL is printed once uvicorn listens
            if line.strip().startswith("open http"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
