"""Signed firmware releases (docs/protocol.md, "Firmware updates"): build and
check a release (release.py), and the body of the offer that points a gate
at one (offer.py). The device side is firmware/ota/."""
