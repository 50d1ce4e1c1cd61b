"""Purge line: heat up, home, and prime the nozzle with a double line along the bed's edge.

Run it before a print or after a filament change: the nozzle gets a steady flow, the ooze
is wiped off on the line, and the next purge lands next to this one (not on top of it).
Distances are in mm, speeds in mm/min, temperatures in °C.
"""

from collections import OrderedDict

__script_id__ = "purge_line"
__script_title__ = "Purge line"
__script_version__ = 1

# A dict of defaults: scriptdeck infers each setting's type from its default (int, float,
# bool, string) and keeps this order in the settings form.
__script_settings__ = OrderedDict(
    [
        ("bed_temperature", 60),
        ("nozzle_temperature", 210),
        ("home_first", True),
        ("x_start", 5.0),
        ("y_start", 20.0),
        ("length", 150.0),
        ("line_gap", 1.0),
        ("line_height", 0.3),
        ("extrusion_per_mm", 0.05),
        ("feed_rate", 1500),
        ("retract", 0.8),
        ("advance_each_run", 2.5),
        ("x_limit", 30.0),
        ("temperature_report_interval", 2),
    ]
)


def on_connect(settings):
    """Ask the printer to report its temperatures every few seconds (0 turns it off), so the
    dashboard's temperatures stay current while this purge waits for heat."""
    interval = int(settings.get("temperature_report_interval", 2))
    return [f"M155 S{max(interval, 0)}"]


__script_commands__ = on_connect


class PurgeLine:
    def __init__(self, g, logger, settings):
        self.g = g
        self.logger = logger
        self.settings = settings
        self.script_status = None

    def status(self, text):
        self.script_status = text
        self.logger.info(text)

    def heat(self, bed, nozzle):
        reply = self.g.write("M105", resp_needed=True)
        if reply:
            self.logger.info("Temperatures before heating: %s", str(reply).strip())
        # Start both heaters first, then wait for each: the bed and nozzle heat together.
        self.g.write(f"M140 S{bed}")
        self.g.write(f"M104 S{nozzle}")
        self.status(f"Waiting for the bed to reach {bed} °C")
        self.g.write(f"M190 S{bed}")
        self.status(f"Waiting for the nozzle to reach {nozzle} °C")
        self.g.write(f"M109 S{nozzle}")

    def run(self):
        s = self.settings
        g = self.g
        length = float(s["length"])
        gap = float(s["line_gap"])
        height = float(s["line_height"])
        per_mm = float(s["extrusion_per_mm"])
        x = float(s["x_start"])
        y = float(s["y_start"])
        if length <= 0 or height <= 0 or per_mm <= 0:
            self.logger.error("length, line_height and extrusion_per_mm must be positive")
            return False, {}

        self.heat(int(s["bed_temperature"]), int(s["nozzle_temperature"]))
        if s["home_first"]:
            self.status("Homing")
            g.write("G28")
        g.write("M83")  # relative extrusion: every E below is the filament for that move alone
        g.abs_move(z=5, rapid=True)
        g.abs_move(x=x, y=y, rapid=True)
        g.abs_move(z=height)
        g.feed(int(s["feed_rate"]))

        self.status(f"Purging {2 * length:.0f} mm at X{x:.1f}")
        g.move(y=length, E=round(length * per_mm, 5))
        g.move(x=gap)
        g.move(y=-length, E=round(length * per_mm, 5))
        g.move(E=-float(s["retract"]))
        g.move(z=2)  # lift off the line so the print's first travel does not drag through it
        self.status("Purge done")

        # Persisted: the next purge starts next to this one, and wraps back once past x_limit.
        next_x = x + gap + float(s["advance_each_run"])
        if next_x > float(s["x_limit"]):
            next_x = 5.0
        return True, {"x_start": round(next_x, 2)}


__script_obj__ = PurgeLine
