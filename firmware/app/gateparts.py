# Builds the gate hardware from the pin map and config["gate"]:
# relay, buzzer, LEDs and the exit button (wired to the shared Occupancy).
# Boot only: main.py unloads this module after build() (nothing built here
# refers back to it).
from gate.io import Relay, Buzzer, Leds, ExitButton, GateIO
from gate.occupancy import Occupancy
from app.pins import INTERNAL_PULL_UP


def build(port, cfg, pins):
    g = cfg.get("gate", {})
    occupancy = Occupancy()
    relay = Relay(port.pin_out("relay", pins["relay"]), pulse_ms=g.get("relay_ms", 3000),
                  active_high=g.get("relay_active_high", True))
    buzzer = Buzzer(port.pwm("buzzer", pins["buzzer"]))
    leds = Leds(port.pin_out("led_green", pins["led_green"]),
                port.pin_out("led_red", pins["led_red"]))
    button_pin = port.pin_in("exit_button", pins["exit_button"],
                             pull_up="exit_button" in INTERNAL_PULL_UP)
    gate = GateIO(relay, buzzer, leds, None, occupancy, port.event)
    gate.exit_button = ExitButton(button_pin, gate.person_left,
                                  debounce_ms=g.get("debounce_ms", 50))
    return gate
