# GreenGate terminal. slotboot picks the firmware slot (a release installed
# over the air, or the one installed over USB) and runs its app/boot.py
# (docs/protocol.md "Firmware updates"). Frozen on the ESP32
# (tools/esp32/manifest.py) that code runs from flash, while this file is
# compiled into the heap at boot and held as long as the firmware runs, so it
# stays this small (docs/memory.md "Measured on 32 bits").
import slotboot

slotboot.run()
