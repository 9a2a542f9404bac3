# Platform layer: one firmware tree, two ports. `port()` returns the Port of
# the machine we run on; everything above talks to that object only.
#
# Port interface (hal/esp32.py and hal/unix.py implement the same names):
#   name                         "esp32" or "unix"
#   flash_dir()                  directory for the device's files (LittleFS / GG_FLASH_DIR)
#   open_scanner(cfg, pins)      -> (port, set_baud): non-blocking stream for asyncio
#   pin_out(name, gpio, value)   -> object with value([v]) and on()/off()
#   pin_in(name, gpio, pull_up)  -> object with value()
#   pwm(name, gpio)              -> buzzer output with tone(freq) / off()
#   display(cfg, pins)           -> the display driver's bus/device (see display/)
#   watchdog(timeout_ms)         -> object with feed(); cannot be stopped
#   nvs()                        -> small key/value store: get_int, set_int, get_blob, set_blob
#   async connect_network(cfg, timeout_s) -> bool
#   sync_time()                  -> bool (clock now trusted)
#   event(kind, fields)          records an observable event (unix: JSON lines)
#   log(text)                    one diagnostic line (stderr / console)
#   reset()                      restart the device (unix: exit the process, status 3)
#   open_console()               -> (stream, write): USB console for the SETUP service
#   chip_id()                    hex id of the chip (ESP32: machine.unique_id)
#   screenshot()                 (unix only) PNG bytes of the display
import sys

_port = None


def is_esp32():
    return sys.platform == "esp32"


def port():
    global _port
    if _port is None:
        if is_esp32():
            from hal import esp32 as impl
        else:
            from hal import unix as impl
        _port = impl.Port()
    return _port
