"""Sender against scripted firmware replies: resends, keep-alives, errors, timeouts, flow control."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scriptdeck.errors import AckTimeoutError, FirmwareHaltError, ProtocolError
from scriptdeck.machine import Command, Sender, SenderConfig, Stream
from scriptdeck.machine.transport import QueueTransport
from scriptdeck.machine.virtual import VirtualOptions, VirtualTransport
from scriptdeck.machine.window import Window

pytestmark = pytest.mark.timeout(20)

N_RE = re.compile(r"^N(\d+) ")


def number(line: str) -> int:
    m = N_RE.match(line)
    assert m, line
    return int(m.group(1))


def test_resend_mid_stream(scripted) -> None:
    seen: set[int] = set()

    def respond(line: str) -> str:
        n = number(line)
        if n == 5 and n not in seen:
            seen.add(n)
            return "Error:checksum mismatch, Last Line: 4\nResend: 5\nok"
        return "ok"

    sender, fw = scripted(respond, flow="pingpong")
    cmds = [sender.send(f"G1 X{i}") for i in range(1, 10)]
    for c in cmds:
        sender.wait(c, 5)
    numbers = [number(w) for w in fw.written]
    assert numbers == [1, 2, 3, 4, 5, 5, 6, 7, 8, 9]
    assert [c.n for c in cmds] == list(range(1, 10))


def test_resend_without_space_in_buffered_mode(scripted) -> None:
    # The firmware answers lines in order; when line 3 arrives the first time it asks again
    # with "Resend:3" (no space) and drops the lines that followed it, like Marlin 2 does.
    state = {"expect": 1, "failed": False}

    def respond(line: str) -> str | None:
        n = number(line)
        if n != state["expect"]:
            return f"Error:Line Number is not Last Line Number+1, Last Line: {state['expect'] - 1}\nResend:{state['expect']}\nok"
        if n == 3 and not state["failed"]:
            state["failed"] = True
            return "Error:checksum mismatch, Last Line: 2\nResend:3\nok"
        state["expect"] += 1
        return "ok"

    sender, _fw = scripted(respond, flow="buffered", rx_size=0)
    cmds = [sender.send(f"G1 X{i}") for i in range(1, 8)]
    sender.wait_idle(5)
    assert all(c.done for c in cmds)
    assert state["expect"] == 8  # every line accepted once, in order


def test_ok_with_data_is_the_response(scripted) -> None:
    sender, _ = scripted(lambda line: "ok T:200.0 /200.0 B:60.0 /60.0" if "M105" in line else "ok")
    assert sender.request("M105", 5) == ["ok T:200.0 /200.0 B:60.0 /60.0"]


def test_reply_lines_before_ok_belong_to_the_line(scripted) -> None:
    sender, _ = scripted(lambda line: "X:1.00 Y:2.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0\nok" if "M114" in line else "ok")
    assert sender.request("M114", 5)[0].startswith("X:1.00")


def test_busy_keepalives_hold_off_the_timeout(scripted) -> None:
    def respond(line: str) -> str | None:
        return None if "M400" in line else "ok"

    sender, fw = scripted(respond, ack_timeout=0.5)
    cmd = sender.send("M400")
    stop = threading.Event()

    def keepalive() -> None:
        for _ in range(12):  # 1.2 s of busy, longer than the 0.5 s timeout
            if stop.wait(0.1):
                return
            fw.push("echo:busy: processing\n")
        fw.push("ok\n")

    t = threading.Thread(target=keepalive)
    t.start()
    try:
        assert sender.wait(cmd, 5) == ["ok"]  # busy lines are not part of the answer
    finally:
        stop.set()
        t.join()


def test_wait_resends_a_lost_line(scripted) -> None:
    dropped: set[int] = set()

    def respond(line: str) -> str | None:
        n = number(line)
        if n == 2 and n not in dropped:
            dropped.add(n)
            return "wait"  # the line was lost; the idle firmware says "wait"
        return "ok"

    sender, fw = scripted(respond)
    sender.request("G1 X1", 5)
    sender.request("G1 X2", 5)
    assert [number(w) for w in fw.written] == [1, 2, 2]


def test_error_halt_fails_every_waiter(scripted) -> None:
    sender, _ = scripted(lambda line: "Error:Printer halted. kill() called!" if "G28" in line else "ok")
    sender.request("G90", 5)
    cmd = sender.send("G28")
    with pytest.raises(FirmwareHaltError, match="kill"):
        sender.wait(cmd, 5)
    with pytest.raises(FirmwareHaltError):
        sender.send("G1 X1")


def test_garbage_bytes_are_survived(scripted) -> None:
    def respond(line: str) -> str:
        return "\xff\xfe\x00#@!garbage\nok" if "G1" in line else "ok"

    sender, fw = scripted(respond)
    fw.push(b"\x00\xff\xfe\r\n")
    assert sender.request("G1 X1", 5)[-1] == "ok"
    assert sender.request("M400", 5) == ["ok"]


def test_line_longer_than_the_receive_buffer_is_refused(scripted) -> None:
    sender, fw = scripted(lambda line: "ok", rx_size=32)
    with pytest.raises(ProtocolError, match=r"receive buffer of 32 bytes"):
        sender.send("G1 X1.000000 Y2.000000 Z3.000000 E4.000000")
    assert fw.written == []


def test_firmware_that_never_answers_times_out_naming_the_line(scripted) -> None:
    sender, _ = scripted(lambda line: None, ack_timeout=0.3)
    cmd = sender.send("G1 X5")
    with pytest.raises(AckTimeoutError, match=r"no acknowledgement for 'N1 G1 X5\*\d+' within 0.3 s"):
        sender.wait(cmd, 5)


def test_impossible_resend_is_a_protocol_error(scripted) -> None:
    sender, _ = scripted(lambda line: "Resend: 999\nok" if "G1 X3" in line else "ok")
    sender.request("G1 X1", 5)
    with pytest.raises(ProtocolError, match="resend line 999"):
        sender.request("G1 X3", 5)


def test_m110_renumbers(scripted) -> None:
    sender, fw = scripted(lambda line: "ok")
    sender.request("G1 X1", 5)
    sender.request("M110 N0", 5)
    sender.request("G1 X2", 5)
    assert [number(w) for w in fw.written] == [1, 0, 1]
    assert fw.written[1].startswith("N0 M110 N0*")


def test_pingpong_keeps_one_line_in_flight(scripted) -> None:
    sender, fw = scripted(lambda line: None, flow="pingpong")
    cmds = [sender.send(f"G1 X{i}") for i in range(3)]
    assert len(fw.written) == 1
    fw.respond = lambda line: "ok"
    fw.push("ok\n")
    sender.wait_idle(5)
    assert all(c.done for c in cmds)
    assert len(fw.written) == 3


@pytest.mark.parametrize("advanced_ok", [False, True])
def test_buffered_never_overflows_the_rx_buffer(advanced_ok: bool) -> None:
    t = VirtualTransport(VirtualOptions(rx_size=96, buffer=4, move_ms=0.2, advanced_ok=advanced_ok, start=False))
    s = Sender(t, SenderConfig(flow="buffered", rx_size=96))
    s.start()
    try:
        lines = [f"G1 X{i % 97}.{i % 7} Y{i % 13}" for i in range(400)]
        stream = s.stream(Stream(lines, len(lines)))
        assert stream.finished.wait(10)
        assert stream.error is None and stream.acked == 400
        fw = t.firmware
        assert fw.stats["rx_dropped"] == 0
        assert fw.stats["rx_max"] <= 96
        assert fw.log == lines
    finally:
        s.close()


def test_advanced_ok_caps_lines_in_flight_by_free_slots() -> None:
    t = VirtualTransport(VirtualOptions(bufsize=2, buffer=2, move_ms=0.5, advanced_ok=True, start=False))
    s = Sender(t, SenderConfig(flow="buffered", rx_size=0))
    s.start()
    try:
        s.request("G90", 5)  # its "ok N1 P2 B2" tells the sender the queue has 2 slots
        most = 0
        stream = s.stream(Stream([f"G1 X{i}" for i in range(60)]))
        while not stream.finished.wait(0.01):
            most = max(most, len(s.window.inflight))
        assert most <= 2
        assert stream.error is None
    finally:
        s.close()


class BufferFirmware(QueueTransport):
    """A firmware that keeps every line it has not acknowledged and records the most bytes it
    held at once (what its RX buffer would have to take); it acknowledges whatever it holds
    in random bursts from its own thread, the way replies arrive in batches on a busy link.

    ``reject`` numbers are refused once, like Marlin: Error, ``Resend: n``, ``ok``, and every
    line after the bad one is dropped until n comes again. ``advanced`` replies
    ``ok N<n> P<free> B2``, the planner full after the first lines (the sender then tops its
    window up every other ok).
    """

    description = "buffer://"

    def __init__(self, reject: set[int] = frozenset(), advanced: bool = False, seed: int = 1) -> None:  # type: ignore[assignment]
        import random

        self.rng = random.Random(seed)
        self.reject = set(reject)
        self.advanced = advanced
        self.held: list[bytes] = []
        self.most = 0
        self.writes: list[bytes] = []
        self.accepted: list[int] = []
        self.expect = 1
        super().__init__()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        with self._cond:
            self.writes.append(data)
            self.held += [line + b"\n" for line in data.split(b"\n")[:-1]]
            self.most = max(self.most, sum(len(line) for line in self.held))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self.held and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                k = self.rng.randint(1, len(self.held))
                burst, self.held = self.held[:k], self.held[k:]
                for line in burst:
                    self._out += self._answer(line.decode().strip())
                self._cond.notify_all()

    def _answer(self, line: str) -> bytes:
        n = number(line)
        if n != self.expect:
            return b""  # after a bad line Marlin drops what follows until the line it asked for
        if n in self.reject:
            self.reject.discard(n)
            return b"Error:checksum mismatch, Last Line: %d\nResend: %d\nok\n" % (n - 1, n)
        self.accepted.append(n)
        self.expect += 1
        # The planner is empty for the first lines (the sender learns its size), then full.
        return b"ok N%d P%d B2\n" % (n, 16 if n <= 3 else 0) if self.advanced else b"ok\n"



@pytest.mark.parametrize("advanced", [False, True])
def test_window_never_holds_more_than_rx_size_bytes(advanced: bool) -> None:
    fw = BufferFirmware(advanced=advanced)
    s = Sender(fw, SenderConfig(flow="buffered", rx_size=96))
    s.start()
    try:
        lines = [f"G1 X{i % 97}.{i % 7} Y{i % 13}" + " F3000" * (i % 3) for i in range(600)]
        stream = s.stream(Stream(lines, len(lines)))
        assert stream.finished.wait(15)
        assert stream.error is None and stream.acked == 600
        assert fw.most <= 96
        assert fw.accepted == list(range(1, 601))
        assert max(w.count(b"\n") for w in fw.writes) >= 2  # lines do go out several per write
    finally:
        s.close()


@pytest.mark.parametrize("advanced", [False, True])
def test_batched_writes_resend_correctly(advanced: bool) -> None:
    # Several lines per write, a window topped up in bursts, and rejected lines in the middle
    # of a batch: every line is accepted exactly once, in order, and the buffer never overflows.
    fw = BufferFirmware(reject={5, 6, 40, 41, 199}, advanced=advanced, seed=7)
    s = Sender(fw, SenderConfig(flow="buffered", rx_size=128))
    s.start()
    try:
        lines = [f"G1 X{i}.5 Y{i % 11}" for i in range(200)]
        stream = s.stream(Stream(lines, len(lines)))
        assert stream.finished.wait(15)
        assert stream.error is None
        assert fw.accepted == list(range(1, 201))
        assert fw.most <= 128
        assert s.window.backlog is advanced  # the every-other-ok top-up was in play
    finally:
        s.close()


def test_emergency_line_that_waits_for_room_stays_unnumbered(scripted) -> None:
    sender, fw = scripted(lambda line: None, rx_size=35)
    sender.send("G1 X1.000 Y1.000 Z1.000")  # 31 bytes framed
    sender.send("G1 X2.000 Y2.000 Z2.000")  # the window (35 bytes) holds the first line only
    sender.send("M410")  # 5 bytes do not fit either: it goes first once there is room
    assert len(fw.written) == 1
    fw.respond = lambda line: "ok"
    fw.push("ok\n")
    sender.wait_idle(5)
    assert fw.written[1] == "M410"
    assert number(fw.written[2]) == 2


def test_stream_line_longer_than_the_receive_buffer_ends_the_stream(scripted) -> None:
    sender, fw = scripted(lambda line: "ok", rx_size=32)
    stream = sender.stream(Stream(["G1 X1", "G1 X1.000000 Y2.000000 Z3.000000 E4.000000", "G1 X2"]))
    assert stream.finished.wait(5)
    assert isinstance(stream.error, ProtocolError)
    assert [number(w) for w in fw.written] == [1]


def test_pty_transport_reads_blocking_then_polls_and_wakes_on_close() -> None:
    import os
    import tty

    from scriptdeck.errors import NotConnectedError
    from scriptdeck.machine.transport import FdTransport

    master, slave = os.openpty()
    tty.setraw(master)
    t = FdTransport(slave, "pty")
    try:
        os.write(master, b"ok\n")
        assert t.read(5) == b"ok\n"  # after bytes came, the next read blocks in read() itself
        os.write(master, b"ok N1 P0 B3\n")
        assert t.read(5) == b"ok N1 P0 B3\n"
        assert t.read(0.05) == b""  # silence: the tty's VTIME ends the read, then poll
        done = threading.Event()
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                t.read(None)  # poll without a timeout: only close() can end it
            except NotConnectedError as exc:
                errors.append(exc)
            done.set()

        th = threading.Thread(target=reader)
        th.start()
        t.close()
        assert done.wait(5) and errors
        th.join()
    finally:
        t.close()
        t.release_wakeup()
        os.close(master)


def test_pty_read_with_less_time_than_vtime_left_polls_instead_of_blocking(monkeypatch) -> None:
    import os
    import tty

    from scriptdeck.machine import transport
    from scriptdeck.machine.transport import FdTransport

    master, slave = os.openpty()
    tty.setraw(master)
    t = FdTransport(slave, "pty")
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        reads.append(fd)
        return real_read(fd, n)

    try:
        os.write(master, b"ok\n")
        assert t.read(5) == b"ok\n"  # active: the next read would block in read() for VTIME
        monkeypatch.setattr(transport.os, "read", counting_read)
        assert t.read(0.01) == b""  # a short timeout is kept: poll, and no blocking read
        assert reads == []
    finally:
        monkeypatch.undo()
        t.close()
        t.release_wakeup()
        os.close(master)


def test_serial_object_read_shortens_its_last_slice_to_the_timeout() -> None:
    from scriptdeck.machine.transport import SerialObjectTransport

    class Silent:
        def __init__(self) -> None:
            self.timeout = 0.0
            self.waits: list[float] = []

        def read(self, n: int) -> bytes:
            self.waits.append(self.timeout)
            return b""

        def close(self) -> None:
            pass

    obj = Silent()
    t = SerialObjectTransport(obj, "obj://", slice_s=0.1)
    assert t.read(0.02) == b""
    assert obj.waits and all(w <= 0.02 for w in obj.waits)
    obj.waits.clear()
    obj.read = lambda n: (obj.waits.append(obj.timeout), b"ok\n")[1]  # type: ignore[method-assign]
    assert t.read(None) == b"ok\n"
    assert obj.waits == [0.1]  # back to whole slices


def test_pty_hang_up_during_an_exchange_is_a_disconnect() -> None:
    import os
    import tty

    from scriptdeck.errors import NotConnectedError
    from scriptdeck.machine.transport import FdTransport

    master, slave = os.openpty()
    tty.setraw(master)
    t = FdTransport(slave, "pty")
    try:
        os.write(master, b"ok\n")
        assert t.read(5) == b"ok\n"
        os.close(master)  # the board goes away while the reader blocks in read()
        with pytest.raises(NotConnectedError):
            for _ in range(3):
                t.read(1)
    finally:
        t.close()
        t.release_wakeup()


def test_pty_gathering_read_waits_for_the_second_reply_or_gives_up() -> None:
    import os
    import tty

    from scriptdeck.machine.transport import FdTransport

    master, slave = os.openpty()
    tty.setraw(master)
    t = FdTransport(slave, "pty")
    try:
        t.gather(len(b"ok N1 P0 B2\n") + 1)
        os.write(master, b"ok N1 P0 B2\n")
        got = t.read(5)  # only one reply came: the read gives up gathering and returns it
        assert got in (b"", b"ok N1 P0 B2\n")
        got += t.read(5)
        assert got == b"ok N1 P0 B2\n"
        t.gather(len(b"ok N2 P0 B2\n") + 1)
        os.write(master, b"ok N2 P0 B2\nok N3 P0 B2\n")
        assert t.read(5) == b"ok N2 P0 B2\nok N3 P0 B2\n"
        t.write(b"N4 G1 X1*0\n")  # writes work while the descriptor is non-blocking
        assert os.read(master, 100) == b"N4 G1 X1*0\n"
        t.gather(0)
        os.write(master, b"ok\n")
        assert t.read(5) == b"ok\n"
    finally:
        t.close()
        t.release_wakeup()
        os.close(master)



def test_window_holds_lines_back_by_planner_backlog() -> None:
    # Few planned moves: top up after every ok. A backlog: every other ok. A deep backlog: only
    # once every line in flight is acknowledged, so the reader sleeps through the oks before.
    def window(planner_free: int, lines: int) -> Window:
        w = Window(SenderConfig(flow="buffered", rx_size=128))
        for i in range(lines + 2):  # two are acknowledged below
            cmd = Command(f"G1 X{i}")
            w.frame(cmd)
            w.push(cmd, fresh=True)
        w.on_ok(3, 16)  # the planner's size, about
        w.on_ok(3, planner_free)
        return w  # `lines` still in flight

    # planned moves (16 - P), lines in flight -> (hold new lines back, oks to sleep through)
    cases = {(2, 3): (False, 0), (5, 3): (True, 1), (5, 2): (True, 0), (10, 3): (True, 2), (10, 1): (True, 0)}
    for (planned, lines), expected in cases.items():
        w = window(16 - planned, lines)
        assert (w.defer(), w.gather_oks()) == expected, (planned, lines)


# Ping-pong streaming has a hot path (Sender._stream_step) that the general path must take over
# from whenever anything else happens; these streams force each of those hand-overs.
def test_pingpong_stream_resends_renumbers_and_refuses_long_lines(scripted) -> None:
    seen: set[int] = set()

    def respond(line: str) -> str:
        n = number(line)
        if n == 7 and n not in seen:
            seen.add(n)
            return "Error:Line Number is not Last Line Number+1, Last Line: 6\nResend: 7\nok"
        return "ok"

    sender, fw = scripted(respond, flow="pingpong", rx_size=48)
    lines = [f"G1 X{i}" for i in range(1, 10)] + ["M110 N100", "G1 X10", "G1 X11"]
    stream = sender.stream(Stream(lines))
    assert stream.finished.wait(5)
    assert stream.error is None
    assert [number(w) for w in fw.written] == [1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 100, 101, 102]
    assert (stream.sent, stream.acked) == (12, 12)

    long = sender.stream(Stream(["G1 X1", "G1 X1.000000 Y2.000000 Z3.000000 E4.000000 F5", "G1 X2"]))
    assert long.finished.wait(5)
    assert isinstance(long.error, ProtocolError)
    assert [number(w) for w in fw.written[13:]] == [103]


def test_pingpong_stream_pauses_listens_and_lets_requests_in(scripted) -> None:
    paused = threading.Event()
    sender: Sender

    def respond(line: str) -> str:
        if number(line) == 50 and not paused.is_set():
            sender.set_paused(True)  # from inside the stream's own write, as a pause may come
            paused.set()
        return "ok"

    sender, fw = scripted(respond, flow="pingpong")
    heard: list[tuple[str, str]] = []
    stream = sender.stream(Stream(f"G1 X{i}" for i in range(1, 200)))
    assert paused.wait(5)
    assert not stream.finished.wait(0.2)
    assert len(fw.written) == 50
    sender.line_listeners.append(lambda direction, text: heard.append((direction, text)))
    assert sender.request("M105", 5, urgent=True) == ["ok"]  # urgent lines pass a pause
    sender.set_paused(False)
    assert stream.finished.wait(5)
    assert stream.error is None
    assert [number(w) for w in fw.written] == list(range(1, 201))
    assert stream.acked == 199
    outs = [t for d, t in heard if d == "out"]
    assert outs[0].startswith("N51 M105*") and outs[-1].startswith("N200 G1 X199*")
    assert sum(1 for d, _ in heard if d == "in") == len(outs)


def test_pingpong_stream_cancel_stops_at_once(scripted) -> None:
    sender: Sender

    def respond(line: str) -> str:
        if number(line) == 100:
            sender.discard("cancelled by the test")  # while line 100 waits for its ok
        return "ok"

    sender, fw = scripted(respond, flow="pingpong")
    stream = sender.stream(Stream("G1 X1" for _ in range(100_000)))
    assert stream.finished.wait(5)
    assert "cancelled" in str(stream.error)
    assert len(fw.written) == 100
    sender.request("M400", 5)  # the link stays usable
    assert fw.written[-1].startswith("N101 M400*")


def test_auto_reports_do_not_hold_off_the_acknowledgement_timeout(scripted) -> None:
    # A firmware that lost our line but keeps reporting temperatures (M155) and position (M154)
    # must still time out: the reports come whether or not it got the line.
    sender, fw = scripted(lambda line: None, ack_timeout=0.6)
    sender.position_reports = True
    with auto_reports(fw, " T:21.00 /0.00 B:21.00 /0.00 @:0 B@:0\nX:1.00 Y:2.00 Z:0.00 E:0.00 Count X:80 Y:160 Z:0\n"):
        with pytest.raises(AckTimeoutError, match="G1 X5"):
            sender.request("G1 X5", 10)


@contextlib.contextmanager
def auto_reports(fw: Any, text: str) -> Iterator[None]:
    """The firmware pushes ``text`` every 0.1 s (M155/M154 auto-reports) while the block runs."""
    stop = threading.Event()

    def reports() -> None:
        while not stop.wait(0.1):
            fw.push(text)

    th = threading.Thread(target=reports)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def test_position_reports_answer_only_m114(scripted) -> None:
    report = "X:1.00 Y:2.00 Z:0.00 E:0.00 Count X:80 Y:160 Z:0"
    sender, _ = scripted(lambda line: f"{report}\nok")  # a report arrives before every ok
    assert sender.request("G1 X1", 5) == [report, "ok"]  # without M154 it is the line's own reply
    sender.position_reports = True
    assert sender.request("G1 X1", 5) == ["ok"]
    assert sender.request("M114", 5) == [report, "ok"]


def test_a_line_sent_while_an_auto_report_is_handled_keeps_its_whole_timeout(scripted) -> None:
    # The race CI once hit: the reader has read an auto-report, a caller sends a line (its clock
    # starts), then the reader handles the report. The report must not put back the clock of
    # the long idle before, which timed the new line out at once ("machine error" mid-run).
    sender, fw = scripted(lambda line: "ok", ack_timeout=0.5)
    time.sleep(0.6)  # idle longer than the timeout: the last reply is old
    handle = sender._handle
    sent: list[Command] = []

    def racing(*args: object) -> bytes:
        if not sent:
            sent.append(sender.send("G28"))  # between the read and its handling
        return handle(*args)  # type: ignore[arg-type]

    sender._handle = racing  # type: ignore[method-assign]
    fw.push(" T:21.00 /0.00 B:21.00 /0.00 @:0 B@:0\n")
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent, "the report was never handled"
    sender.wait(sent[0], 5)
    assert sender.request("M105", 5)


def test_auto_reports_keep_a_long_running_command_alive(scripted) -> None:
    # A firmware without busy keep-alives (no HOST_KEEPALIVE_FEATURE) says nothing during a
    # dwell or homing but its auto-reports: for those commands they prove it is still on them.
    timers: list[threading.Timer] = []

    def respond(line: str) -> None:
        t = threading.Timer(1.5, lambda: fw.push("ok\n"))
        timers.append(t)
        t.start()

    sender, fw = scripted(respond, ack_timeout=0.6)
    try:
        with auto_reports(fw, " T:21.00 /0.00 B:21.00 /0.00 @:0 B@:0\n"):
            assert sender.request("G4 S1.5", 10) == ["ok"]
            assert sender.request("G28", 10) == ["ok"]
            with pytest.raises(AckTimeoutError, match="G1 X5"):
                sender.request("G1 X5", 10)  # an ordinary line: the reports do not keep it alive
    finally:
        for t in timers:
            t.cancel()


def test_m108_reaches_a_firmware_waiting_in_m109_behind_a_full_window(scripted) -> None:
    # Cancel during a heat wait: the M109 line is being executed (its W: reports say so), so it
    # left the firmware's receive buffer; an M108 must go out at once, not after the wait ends.
    from scriptdeck.machine.protocol import frame

    def respond(line: str) -> str | None:
        if "M109" in line:
            return " T:100.00 /210.00 B:21.00 /0.00 @:0 B@:0 W:?"
        if line == "M108":
            return "ok\nok\nok"  # the wait ends: M109, the queued move, M108 itself
        return None

    move = "G1 X100.000 Y100.000 F3000"
    rx_size = len(frame(1, "M109 S210")) + len(frame(2, move)) + 2  # no room for "M108\n" (5)
    sender, fw = scripted(respond, rx_size=rx_size)
    heat = sender.send("M109 S210")
    deadline = time.monotonic() + 5
    while not heat.response and time.monotonic() < deadline:
        time.sleep(0.01)
    assert heat.response, "no report for M109"
    queued = sender.send(move)
    stop = sender.send("M108")
    assert "M108" in fw.written  # at once, while M109 still waits
    sender.wait(stop, 5)
    assert heat.done and queued.done


def test_m108_waits_for_room_when_the_firmware_has_not_taken_the_head_line(scripted) -> None:
    from scriptdeck.machine.protocol import frame

    move = "G1 X100.000 Y100.000 F3000"
    rx_size = len(frame(1, move)) + len(frame(2, move)) + 2
    sender, fw = scripted(lambda line: None, rx_size=rx_size, ack_timeout=5)
    sender.send(move)
    sender.send(move)
    sender.send("M108")
    assert "M108" not in fw.written  # it could overflow the receive buffer: first in line instead
