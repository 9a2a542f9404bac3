# MicroPython freeze manifest for a GreenGate ESP32 without PSRAM
# (hardware.md "With or without PSRAM"; docs/memory.md). Build:
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/greengate/tools/esp32/manifest.py
# then flash it (`greengate provision flash build-ESP32_GENERIC/firmware.bin`) and
# copy only main.py to the board: every other module runs from flash, and
# the fonts and texts are frozen bytes (gg_data, written here by gen_data.py),
# read in place. Paths below are relative to this file (the manifest runs
# with it as the working directory). tests/firmware/test_manifest.py checks
# that every firmware module the ESP32 imports is listed.

include("$(PORT_DIR)/boards/manifest.py")  # the board's own: asyncio, ntptime, ...

FIRMWARE = "../../firmware"

# per package, the files to freeze; the unix port's own modules (hal/unix.py,
# display/filedisp.py: pty, PNG file panels) stay out
PACKAGES = {
    "app": ["__init__.py", "boot.py", "codequeue.py", "config.py", "controlservice.py", "decisions.py",
            "gateparts.py", "netparts.py", "netservice.py", "pins.py", "policy.py",
            "provisioned.py", "scanner_service.py", "screen.py", "supervisor.py"],
    "codec": ["__init__.py", "base45.py", "cbor.py", "inflate.py"],
    "control": ["__init__.py", "blob.py", "envelope.py", "link.py", "service.py", "state.py"],
    "crypto": ["__init__.py", "_ed25519_base.py", "_fe25519_py.py", "_fe25519_viper.py",
               "_fe256_py.py", "_fe256_viper.py", "_p256_base.py", "_sha512_viper.py", "ed25519.py",
               "p256.py", "rsa_pss.py", "sha512.py"],
    "display": ["__init__.py", "canvas.py", "font.py", "icons.py", "messages.py", "png.py",
                "screens.py", "ssd1306.py", "st7789.py"],
    "gate": ["__init__.py", "allowlist.py", "decide.py", "io.py", "occupancy.py", "rules.py"],
    "hal": ["__init__.py", "clock.py", "esp32.py"],
    "net": ["__init__.py", "client.py", "mqtt.py", "reporter.py", "topics.py"],
    "ota": ["__init__.py", "fetch.py", "image.py", "link.py", "manifest.py", "offer.py", "selftest.py",
            "updater.py"],
    "scanner": ["__init__.py", "framer.py", "gm65.py", "link.py", "reader.py", "setup.py"],
    "setup": ["__init__.py", "bundle.py", "commands.py", "frame.py", "identity.py", "release.py",
              "service.py", "start.py", "watch.py"],
    "store": ["__init__.py", "outbox.py", "revocation.py"],
    "verify": ["__init__.py", "claims.py", "cose.py", "dcc.py", "dcccheck.py", "dccfields.py", "dsc.py",
               "dsccheck.py", "hc1.py", "qr.py", "reasons.py", "trust.py", "verifier.py"],
}
MODULES = ["errors.py", "fsutil.py", "slotboot.py"]
UNIX_ONLY = ["hal/unix.py", "display/filedisp.py", "otasim.py"]

for name, files in PACKAGES.items():
    package(name, files=files, base_path=FIRMWARE)
for name in MODULES:
    module(name, base_path=FIRMWARE)

# the display's data files as frozen bytes constants (gen_data.py)
import sys  # noqa: E402

sys.path.insert(0, ".")
import gen_data  # noqa: E402

gen_data.write(gen_data.Path("build/gg_data.py"))
module("gg_data.py", base_path="build")
