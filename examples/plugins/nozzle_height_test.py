"""Nozzle height test: a row of first-layer pads, each printed at a different Z offset.

Print it, look at the pads from left to right and pick the best one: lines flat, touching
each other, no gaps and no ridges. The success message says which Z offset each pad used;
set that offset on the printer (M851 Z..., or baby-stepping) and you are done.
"""

import math

__script_id__ = "nozzle_height_test"
__script_title__ = "Nozzle height (Z offset) test"
__script_version__ = 1

# Typed settings (the plugin-folder style): bounds, choices and labels for the form.
__script_settings__ = [
    {
        "name": "how_to",
        "type": "info",
        "description": "Level the bed first. The best pad has flat lines that just touch: "
        "gaps mean the nozzle is too high, ridges or a transparent pad mean too low.",
    },
    {"name": "nozzle_temperature", "type": "int", "label": "Nozzle °C", "default": 210, "min": 150, "max": 300},
    {"name": "bed_temperature", "type": "int", "label": "Bed °C", "default": 60, "min": 0, "max": 120},
    {"name": "layer_height", "type": "float", "label": "First layer height (mm)", "default": 0.2, "min": 0.05, "max": 0.6},
    {"name": "offset_start", "type": "float", "label": "First pad Z offset (mm)", "default": -0.1, "min": -1.0, "max": 1.0},
    {"name": "offset_step", "type": "float", "label": "Offset step (mm)", "default": 0.05, "min": 0.01, "max": 0.25},
    {"name": "count", "type": "int", "label": "Number of pads", "default": 5, "min": 1, "max": 10},
    {"name": "pad_size", "type": "float", "label": "Pad size (mm)", "default": 20.0, "min": 5.0, "max": 40.0},
    {
        "name": "pattern",
        "type": "choice",
        "label": "Pad pattern",
        "choices": {"Zig-zag lines": "lines", "Concentric squares": "squares"},
        "default": "lines",
    },
    {"name": "line_width", "type": "float", "label": "Line width (mm)", "default": 0.45, "min": 0.2, "max": 1.2},
    {
        "name": "filament_diameter",
        "type": "choice",
        "label": "Filament",
        "choices": {"1.75 mm": 1.75, "2.85 mm": 2.85},
        "default": 1.75,
    },
    {"name": "x_start", "type": "float", "label": "First pad X (mm)", "default": 20.0, "min": 0.0},
    {"name": "y_start", "type": "float", "label": "Pads Y (mm)", "default": 20.0, "min": 0.0},
    {"name": "feed_rate", "type": "int", "label": "Print speed (mm/min)", "default": 1200, "min": 60, "max": 6000},
    {"name": "home_first", "type": "bool", "label": "Home before printing", "default": True},
]

_TRAVEL_Z = 2.0
_PAD_GAP = 5.0


class NozzleHeightTest:
    def __init__(self, g, logger, settings):
        self.g = g
        self.logger = logger
        self.settings = settings
        self.script_status = None

    def status(self, text):
        self.script_status = text
        self.logger.info(text)

    def extrusion(self, distance):
        """Filament length for `distance` mm of a line of this width and height."""
        s = self.settings
        area = float(s["line_width"]) * float(s["layer_height"])
        filament = math.pi * (float(s["filament_diameter"]) / 2) ** 2
        return round(distance * area / filament, 5)

    def lines(self, size, width):
        """Zig-zag lines across the pad, starting at its lower-left corner (relative moves)."""
        rows = max(int(size / width), 1)
        for row in range(rows + 1):
            direction = 1 if row % 2 == 0 else -1
            self.g.move(x=direction * size, E=self.extrusion(size))
            if row < rows:
                self.g.move(y=width, E=self.extrusion(width))

    def squares(self, size, width):
        """Concentric squares from the outside in, starting at the lower-left corner."""
        side = size
        while side > 2 * width:
            for dx, dy in ((side, 0), (0, side), (-side, 0), (0, -side + width)):
                self.g.move(x=dx, y=dy, E=self.extrusion(abs(dx) + abs(dy)))
            self.g.move(x=width, E=self.extrusion(width))
            side -= 2 * width

    def run(self):
        s = self.settings
        g = self.g
        count = int(s["count"])
        layer = float(s["layer_height"])
        offsets = [round(float(s["offset_start"]) + i * float(s["offset_step"]), 3) for i in range(count)]
        if layer + offsets[0] <= 0:
            return {
                "success": False,
                "failure_reason": f"the first pad would print at Z{layer + offsets[0]:.2f}, into the bed; "
                "raise offset_start or layer_height",
            }
        size, width = float(s["pad_size"]), float(s["line_width"])

        self.status("Heating")
        g.write(f"M140 S{int(s['bed_temperature'])}")
        g.write(f"M104 S{int(s['nozzle_temperature'])}")
        g.write(f"M190 S{int(s['bed_temperature'])}")
        g.write(f"M109 S{int(s['nozzle_temperature'])}")
        reply = g.write("M105", resp_needed=True)
        if reply:
            self.logger.info("Temperatures: %s", str(reply).strip())
        if s["home_first"]:
            self.status("Homing")
            g.write("G28")
        g.write("M83")  # relative extrusion
        g.write("M107")  # fan off: the first layer is printed without cooling

        for index, offset in enumerate(offsets):
            x = float(s["x_start"]) + index * (size + _PAD_GAP)
            self.status(f"Pad {index + 1}/{count}: Z offset {offset:+.3f} mm")
            g.abs_move(z=layer + _TRAVEL_Z, rapid=True)
            g.abs_move(x=x, y=float(s["y_start"]), rapid=True)
            g.abs_move(z=layer + offset)
            g.feed(int(s["feed_rate"]))
            if s["pattern"] == "squares":
                self.squares(size, width)
            else:
                self.lines(size, width)
            g.move(E=-0.8)  # retract before travelling to the next pad
            g.move(z=_TRAVEL_Z)
            g.move(E=0.8)  # and prime again (the travel happens above the bed)

        g.write("M104 S0")
        g.write("M140 S0")
        table = ", ".join(f"pad {i + 1}: {o:+.3f}" for i, o in enumerate(offsets))
        self.status("Done")
        return {
            "success": True,
            "storage": {"last_offsets": table},
            "success_message": f"Printed {count} pads, left to right: {table} mm. "
            "Pick the best pad and set its offset (M851 Z<offset>, then M500).",
        }


__script_obj__ = NozzleHeightTest
