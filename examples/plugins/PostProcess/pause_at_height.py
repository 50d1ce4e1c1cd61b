"""Action "Pause at height": insert a pause (M0, M600, M25 or your own G-code) before the first layer at or above a Z.

Typical use: swap filament colour for a logo, drop a nut or a magnet into a cavity. Runs in a
scriptdeck worker; uses only the document's public API (`document.layers`, `document.insert`).
"""

from __future__ import annotations

from typing import Any

TOLERANCE = 1e-6  # layer heights come from text like "0.30000000000000004"; never miss the layer at exactly Z


def gcode_lines(text: str) -> list[str]:
    """A setting holding G-code: one or more lines, separated by newlines, `\\n` or `|`."""
    text = text.replace("\\n", "\n").replace("|", "\n")
    return [part.strip() for part in text.splitlines() if part.strip()]


def pause_lines(settings: dict[str, Any]) -> list[str]:
    """The lines inserted: a header comment, an optional M117 message, then the pause command(s)."""
    command = str(settings.get("command", "M0"))
    message = str(settings.get("message", "")).strip()
    z = float(settings.get("z", 0.0))
    if command == "custom":
        body = gcode_lines(str(settings.get("custom_gcode", "")))
        if not body:
            raise ValueError('Pause at height: command is "custom" but custom_gcode is empty')
    else:
        body = [f"{command} {message}".strip() if command == "M0" and message else command]
    out = [f";PAUSE_AT_HEIGHT Z={z:g} (scriptdeck PostProcess)"]
    if message:
        out.append(f"M117 {message}")
    return out + body


def pause_at_height(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Insert the pause before the first layer whose Z is at or above `settings["z"]`."""
    z = float(settings.get("z", 0.0))
    lines = pause_lines(settings)  # a bad setting fails before the job is looked at
    layers = list(document.layers)
    if not layers:
        raise ValueError("Pause at height: the job has no layers (no Z changes while printing, no ;LAYER comments)")
    target = next((layer for layer in layers if layer.z >= z - TOLERANCE), None)
    if target is None:
        top = max(layer.z for layer in layers)
        raise ValueError(f"Pause at height: no layer at or above Z={z:g} mm; the highest layer is at Z={top:g} mm")
    document.insert(target.first_line, lines)
    window.information(
        f"{lines[-1].split()[0]} inserted before layer {target.index} (Z={target.z:g} mm), line {target.first_line + 1}"
    )
