# Firmware updates over the air (docs/protocol.md "Firmware updates"):
# link.py resident (state key 15, routing), updater.py loaded while an
# update is under way, fetch.py / manifest.py / image.py / selftest.py its
# parts; the slot chooser is slotboot.py at the root (never updated by OTA).
