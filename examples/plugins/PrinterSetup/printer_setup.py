"""Actions "Add start and end G-code" and "Temperature tower" for FDM printers (Marlin-style G-code).

Runs in a scriptdeck worker and uses only the document's public API (`document.insert`,
`document.append`, `document.find`, `document.layers`, iteration over lines), so it works on any
job a slicer wrote, including one exported with empty start/end G-code.
"""

from __future__ import annotations

import math
from typing import Any

START_MARK = "; >>> scriptdeck PrinterSetup start"
END_MARK = "; >>> scriptdeck PrinterSetup end"
TOWER_MARK = ";TEMPERATURE_TOWER"
# Nozzle / bed temperatures of the material presets (°C).
PRESETS = {"pla": (205, 60), "petg": (235, 80), "abs": (250, 100), "tpu": (225, 50)}
FILAMENT_DIAMETER = 1.75  # mm; the purge line is sized for it
PURGE_WIDTH, PURGE_HEIGHT = 0.8, 0.3  # a fat, low line grips the bed and primes the nozzle well
TOLERANCE = 1e-6


def split_gcode(text: str) -> list[str]:
    """A setting holding G-code: commands separated by `|` or line breaks."""
    return [part.strip() for part in text.replace("|", "\n").splitlines() if part.strip()]


def temperatures(settings: dict[str, Any]) -> tuple[int, int]:
    material = str(settings.get("material", "pla"))
    if material in PRESETS:
        return PRESETS[material]
    return int(settings.get("nozzle_temp", 210)), int(settings.get("bed_temp", 60))


def led_lines(color: str) -> list[str]:
    """M150 for a "#rrggbb" colour; black (or anything unreadable) means: leave the LEDs alone."""
    try:
        red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    except (ValueError, TypeError):
        return []
    if red == green == blue == 0:
        return []
    return [f"M150 R{red} U{green} B{blue} ; printer LEDs {color}"]


def purge_lines(length: float) -> list[str]:
    """A straight line along X at the front left of the bed, then a small wipe away from it."""
    if length <= 0:
        return []
    area = math.pi * (FILAMENT_DIAMETER / 2) ** 2
    extrude = length * PURGE_WIDTH * PURGE_HEIGHT / area
    return [
        "G92 E0 ; purge line",
        "G1 Z2 F1500",
        "G1 X5 Y10 F6000",
        f"G1 Z{PURGE_HEIGHT:g} F1500",
        f"G1 X{5 + length:.1f} E{extrude:.4f} F1200",
        f"G1 X{5 + length + 3:.1f} F6000 ; wipe",
        "G1 Z2 F1500",
        "G92 E0",
    ]


def start_block(settings: dict[str, Any]) -> list[str]:
    nozzle, bed = temperatures(settings)
    leveling = str(settings.get("leveling", "none"))
    lines = [START_MARK, "G90 ; absolute positions", "M82 ; absolute extrusion", f"M140 S{bed} ; bed heats"]
    # Heat the nozzle only to 150 °C before probing: hot enough to soften ooze, not to drip on the bed.
    lines.append(f"M104 S{min(nozzle, 150)} ; nozzle warms up while the bed heats")
    if settings.get("wait_for_bed", True):
        lines.append(f"M190 S{bed} ; wait for the bed")
    lines.append("G28 ; home all axes")
    if leveling != "none":
        lines.append(f"{leveling} ; bed levelling")
    lines += [f"M104 S{nozzle}", f"M109 S{nozzle} ; wait for the nozzle"]
    if not settings.get("wait_for_bed", True):
        lines.append(f"M190 S{bed} ; wait for the bed")
    lines += led_lines(str(settings.get("led_color", "#000000")))
    lines += purge_lines(float(settings.get("purge_length", 0)))
    lines += split_gcode(str(settings.get("extra_start", "")))
    return [*lines, "; <<< scriptdeck PrinterSetup start"]


def end_block(settings: dict[str, Any]) -> list[str]:
    lift = float(settings.get("end_lift", 10))
    return [
        END_MARK,
        "M400 ; let the last moves finish",
        "M104 S0 ; nozzle off",
        "M140 S0 ; bed off",
        "M107 ; fan off",
        "G91 ; relative moves for the lift",
        f"G1 Z{lift:g} E-2 F900 ; lift and retract a little against ooze",
        "G90",
        "G1 X0 F6000 ; park the head to the side",
        "M84 ; motors off",
        "; <<< scriptdeck PrinterSetup end",
    ]


def _has_line(document: Any, text: str) -> bool:
    return any(line.raw.strip() == text for line in document)


def add_start_end(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Insert the start block before line 1 and append the end block, each unless already present."""
    done = []
    if not _has_line(document, START_MARK):
        document.insert(0, start_block(settings))
        done.append("start")
    if not _has_line(document, END_MARK):
        document.append(end_block(settings))
        done.append("end")
    nozzle, bed = temperatures(settings)
    if done:
        window.information(f"Added {' and '.join(done)} G-code (nozzle {nozzle} °C, bed {bed} °C).")
    else:
        window.information("This job already has the PrinterSetup start and end G-code; nothing changed.")


def temperature_tower(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Before the first layer of each segment, set the nozzle temperature (M104, so printing never stops)."""
    start = int(settings.get("start_temp", 230))
    step = int(settings.get("step", -5))
    height = float(settings.get("segment_height", 10))
    first_z = float(settings.get("first_segment_z", 0))
    if height <= 0:
        raise ValueError("Temperature tower: segment_height must be above 0 mm")
    layers = list(document.layers)
    if not layers:
        raise ValueError("Temperature tower: the job has no layers (no Z changes while printing)")
    changes: list[tuple[int, int, float]] = []  # (line index, temperature, layer z)
    segment = 0
    for layer in layers:
        if layer.z + TOLERANCE < first_z:
            continue
        wanted = int((layer.z - first_z + TOLERANCE) // height)
        if not changes or wanted > segment:
            segment = wanted
            changes.append((layer.first_line, start + step * segment, layer.z))
    if not changes:
        raise ValueError(f"Temperature tower: no layer at or above Z={first_z:g} mm")
    for _, temp, z in changes:  # check all before changing anything: a half-made tower is worse than none
        if not 150 <= temp <= 300:
            raise ValueError(f"Temperature tower: segment at Z={z:g} mm would be {temp} °C, outside 150–300 °C")
    # Insert from the bottom of the file up, so earlier indices stay valid.
    for index, temp, z in reversed(changes):
        document.insert(index, [f"{TOWER_MARK} Z={z:g}", f"M104 S{temp}", f"M117 {temp} C"])
    summary = ", ".join(f"{temp} °C from Z={z:g}" for _, temp, z in changes)
    window.information(f"Temperature tower: {summary}")
