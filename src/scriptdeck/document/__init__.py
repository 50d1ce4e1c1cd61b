"""The document: a G-code job kept byte-exact, its editing API, and what its moves mean (layers, time)."""

from scriptdeck.document.gcode import GcodeDocument, LineSource
from scriptdeck.document.lines import Line, format_number
from scriptdeck.document.preview import Preview, PreviewLayer
from scriptdeck.document.toolpath import Bounds, Layer, ModalState, Stats, ToolChange, Toolpath, analyse

__all__ = [
    "Bounds",
    "GcodeDocument",
    "Layer",
    "Line",
    "LineSource",
    "ModalState",
    "Preview",
    "PreviewLayer",
    "Stats",
    "ToolChange",
    "Toolpath",
    "analyse",
    "format_number",
]
