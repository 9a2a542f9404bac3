# The screenshot command (app/controlservice.py) on an SSD1306 I2C panel, as
# on the ESP32 (the unix port's file panels keep the PNG writer loaded):
# prints whether display.png was loaded before / after, and the answer.
import json
import sys

from display.ssd1306 import SSD1306_I2C
from display.screens import Screens
from app.controlservice import Commands


class Bus:  # machine.I2C stand-in: the panel only writes
    def writevto(self, addr, bufs):
        pass


class Screen:
    screens = Screens(SSD1306_I2C(Bus()), "vi+en")


Screen.screens.idle("Cong chinh", "08:30", True, 3, 7, 0)
cmd = Commands(None, None, Screen())
before = "display.png" in sys.modules
status, detail, data = cmd(5, {})
print(json.dumps({"before": before, "after": "display.png" in sys.modules, "status": status,
                  "png": data[:8] == b"\x89PNG\r\n\x1a\n", "size": len(data)}))
