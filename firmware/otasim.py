# The ESP32 bootloader's rollback, simulated on the unix port for the
# firmware-image target (ota/image.py FilePartition; docs/protocol.md 12.5):
# <flash>/ota/otadata.json {"boot": partition, "state": "new" | "pending" |
# "valid", "prev", "rolled_back"}. Like slotboot, never in an OTA bundle;
# never imported on the ESP32 (its bootloader does this).
import slotboot


def otadata():
    import json

    try:
        with open(slotboot.flash_dir() + "/ota/otadata.json") as f:
            d = json.load(f)
        if type(d) is dict:
            return d
    except (OSError, ValueError):
        pass
    return {"boot": 0, "state": "valid"}


def save_otadata(d):
    slotboot.save_json(slotboot.flash_dir() + "/ota/otadata.json", d)


def bootloader():
    """A boot of a "new" image makes it "pending"; a boot while still
    "pending" (never marked valid) goes back to the other image."""
    d = otadata()
    if d.get("state") == "new":
        d["state"] = "pending"
        save_otadata(d)
    elif d.get("state") == "pending":
        save_otadata({"boot": d.get("prev", 0), "state": "valid", "rolled_back": d.get("boot")})
