"""`scriptdeck print FILE --machine URL`: exit status 2 for bad input, 1 for a machine that fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptdeck.cli import main

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("isolated")]


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.gcode"
    path.write_text("G28\nG1 X10 F3000\n")
    return path


def test_a_job_prints_on_the_virtual_printer(job: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["print", str(job)]) == 0
    assert "printed 2 lines" in capsys.readouterr().err


@pytest.mark.parametrize(("url", "message"), [
    ("tcp://127.0.0.1:99999", "port has value '99999'; expected an integer 1..65535"),
    ("tcp://:8080", "no host; expected tcp://HOST:PORT"),
    ("tcp://[::1", "Invalid IPv6 URL"),
    ("nope://x", "unknown scheme 'nope'"),
    ("virtual://?nope=1", "unknown option 'nope'"),
])
def test_a_malformed_machine_url_is_bad_input(job: Path, capsys: pytest.CaptureFixture[str], url: str,
                                              message: str) -> None:
    assert main(["print", str(job), "--machine", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --machine: machine URL") or err.startswith("error: --machine: virtual://"), err
    assert message in err


def test_a_machine_that_cannot_be_opened_is_a_machine_failure(job: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["print", str(job), "--machine", str(tmp_path / "no-such-port")]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_a_negative_rx_size_is_bad_input(job: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["print", str(job), "--rx-size", "-1"]) == 2
    assert "error: --rx-size has value -1; expected a number of bytes ≥ 0" in capsys.readouterr().err
