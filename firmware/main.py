# GreenGate terminal. The wiring is app/boot.py: frozen on the ESP32
# (tools/esp32/manifest.py) its code runs from flash, while this file is
# compiled into the heap at boot and held as long as the firmware runs, so it
# stays this small (docs/memory.md "Measured on 32 bits").
from app import boot

boot.main()
