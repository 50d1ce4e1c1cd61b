"""Machines: the Marlin line protocol, transports opened by URL, leases, print jobs and mecode's ``g``.

Layers, bottom up: ``transport`` (bytes by URL) → ``sender`` (numbering, checksums, flow
control, resends; one reader thread) → ``machine`` (state, lease, pause/cancel) → ``job``
(printing) and ``mecode_bridge`` (a real ``mecode.G`` whose printer is a lease).
"""

from scriptdeck.machine.job import JobProgress, PrintJob, read_gcode
from scriptdeck.machine.machine import Lease, Machine, MachineState
from scriptdeck.machine.mecode_bridge import LeasePort, PrinterPort, make_g
from scriptdeck.machine.protocol import Reply, ReplyKind, Temperature, checksum, frame, parse_reply
from scriptdeck.machine.sender import Command, Sender, SenderConfig, Stream
from scriptdeck.machine.transport import Transport, open_transport
from scriptdeck.machine.virtual import Fault, VirtualOptions, VirtualTransport
from scriptdeck.machine.virtual_pty import PtyPrinter

__all__ = [
    "Command",
    "Fault",
    "JobProgress",
    "Lease",
    "LeasePort",
    "Machine",
    "MachineState",
    "PrintJob",
    "PrinterPort",
    "PtyPrinter",
    "Reply",
    "ReplyKind",
    "Sender",
    "SenderConfig",
    "Stream",
    "Temperature",
    "Transport",
    "VirtualOptions",
    "VirtualTransport",
    "checksum",
    "frame",
    "make_g",
    "open_transport",
    "parse_reply",
    "read_gcode",
]
