"""Action "Pause at height": park the head and pause (M0, M600, M25 or your own G-code) before a layer.

Typical use: swap filament colour for a logo, drop a nut or a magnet into a cavity. The pause goes
before the first layer at or above `z`. With `park` (the default) it is wrapped the way Cura's and
PrusaSlicer's pause scripts do it: retract, lift Z, move to the park position, pause, come back over
the print, lower Z, unretract, then restore the feed rate and the G90/G91 and M82/M83 modes that were
in effect. Everything the block changes it puts back, so the job continues exactly as sliced.

M600 gets no park from us: Marlin's M600 retracts, lifts and parks by itself (NOZZLE_PARK_POINT) and
returns to where it was called; a second park around it would only add moves. Choose "custom" with
`M600` to have both (a firmware whose M600 does not park, such as some Klipper macros).

Runs in a scriptdeck worker; uses only the document's public API (`document.layers`,
`document.insert`, and what `gcode_state.state_before` reads: `toolpath().state_at` and positions).
"""

from __future__ import annotations

from typing import Any

from scriptdeck.document import format_number

from .gcode_state import GcodeState, state_before

TOLERANCE = 1e-6  # layer heights come from text like "0.30000000000000004"; never miss the layer at exactly Z
Z_FEED_MM_S = 10.0  # lift and lower; a firmware caps it at its own Z limit (Ender-3: 5 mm/s)
FIRMWARE_FEED_MM_MIN = 1500.0  # Marlin's feed rate before any F (and the document model's)
SELF_PARKING = ("M600",)


def gcode_lines(text: str) -> list[str]:
    """A setting holding G-code: one or more lines, separated by newlines, `\\n` or `|`."""
    text = text.replace("\\n", "\n").replace("|", "\n")
    return [part.strip() for part in text.splitlines() if part.strip()]


def header_lines(settings: dict[str, Any]) -> list[str]:
    """The comment that marks the block, then the M117 message unless `message` is empty."""
    out = [f";PAUSE_AT_HEIGHT Z={float(settings.get('z', 0.0)):g} (scriptdeck PostProcess)"]
    message = str(settings.get("message", "")).strip()
    return [*out, f"M117 {message}"] if message else out


def command_lines(settings: dict[str, Any]) -> list[str]:
    """The pause itself: M0 (with the message), M600, M25, or the custom G-code."""
    command = str(settings.get("command", "M0"))
    if command == "custom":
        body = gcode_lines(str(settings.get("custom_gcode", "")))
        if not body:
            raise ValueError('Pause at height: command is "custom" but custom_gcode is empty')
        return body
    message = str(settings.get("message", "")).strip()
    return [f"M0 {message}" if command == "M0" and message else command]


def parks(settings: dict[str, Any]) -> bool:
    """Whether the block parks the head: asked for, and the pause command does not park by itself."""
    return bool(settings.get("park", True)) and str(settings.get("command", "M0")) not in SELF_PARKING


def park_lines(settings: dict[str, Any], state: GcodeState) -> tuple[list[str], list[str]]:
    """The lines before and after the pause command that park the head and bring it back.

    `state` is the program's state where the block goes: its position (the return point), its
    feed rate and modes (restored at the end), its units (settings are in mm, moves in the file's).
    """
    modes = state.modes
    unit = modes.unit

    def number(mm: float) -> str:
        return format_number(mm / unit)

    retract = float(settings.get("retract", 1.0))
    lift = float(settings.get("lift_z", 10.0))
    retract_f = f"F{number(float(settings.get('retract_speed', 25.0)) * 60)}"
    travel_f = f"F{number(float(settings.get('travel_speed', 100.0)) * 60)}"
    z_f = f"F{number(Z_FEED_MM_S * 60)}"
    x, y, z = (format_number(state.position[a]) for a in "XYZ")
    switch_xyz = modes.xyz_relative  # park moves are absolute
    switch_e = retract > 0 and (switch_xyz or not modes.e_relative)  # after G90, Marlin's E is absolute too
    before, after = [], []
    if switch_xyz:
        before.append("G90 ; absolute moves for the park")
    if switch_e:
        before.append("M83 ; relative extrusion for the retract")
    if retract > 0:
        before.append(f"G1 E-{number(retract)} {retract_f} ; retract")
    if lift > 0:
        before.append(f"G1 Z{format_number(state.position['Z'] + lift / unit)} {z_f} ; lift")
    before.append(f"G1 X{number(float(settings.get('park_x', 10.0)))} Y{number(float(settings.get('park_y', 200.0)))} "
                  f"{travel_f} ; park")
    after.append(f"G1 X{x} Y{y} {travel_f} ; back over the print")
    if lift > 0:
        after.append(f"G1 Z{z} {z_f} ; down to the print")
    if retract > 0:
        after.append(f"G1 E{number(retract)} {retract_f} ; unretract")
    if modes.feed is not None:
        after.append(f"G1 F{number(modes.feed)} ; the job's feed rate")
    else:
        after.append(f"G1 F{number(FIRMWARE_FEED_MM_MIN)} ; the firmware's default feed rate (the job set none yet)")
    if switch_xyz:
        after.append("G91 ; relative moves again")
    if switch_xyz or switch_e:  # G91 sets E on Marlin but not everywhere: say it
        after.append("M83 ; relative extrusion again" if modes.e_relative else "M82 ; absolute extrusion again")
    return before, after


def pause_at_height(window: Any, document: Any, settings: dict[str, Any]) -> None:
    """Insert the (parked) pause before the first layer whose Z is at or above `settings["z"]`."""
    z = float(settings.get("z", 0.0))
    pause = command_lines(settings)  # a bad setting fails before the job is looked at
    layers = list(document.layers)
    if not layers:
        raise ValueError("Pause at height: the job has no layers (no Z changes while printing, no ;LAYER comments)")
    target = next((layer for layer in layers if layer.z >= z - TOLERANCE), None)
    if target is None:
        top = max(layer.z for layer in layers)
        raise ValueError(f"Pause at height: no layer at or above Z={z:g} mm; the highest layer is at Z={top:g} mm")
    command = str(settings.get("command", "M0"))
    report = (f"{'custom G-code' if command == 'custom' else command} inserted before layer {target.index} "
              f"(Z={target.z:g} mm), line {target.first_line + 1}")
    if parks(settings):
        before, after = park_lines(settings, state_before(document, target.first_line))
        pause = before + pause + after
        report += f"; the head parks at X{float(settings.get('park_x', 10.0)):g} Y{float(settings.get('park_y', 200.0)):g}"
    elif settings.get("park", True):
        report += f"; {command} parks the head itself, so no park was added"
    document.insert(target.first_line, header_lines(settings) + pause)
    window.information(report)
