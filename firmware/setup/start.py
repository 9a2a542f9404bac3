# Builds the SETUP service from the platform: console stream, NVS (key
# seed), flash directory, chip id, reset. setup/watch.py starts it (at boot
# on a blank device, on the first frame on a provisioned one).
FIRMWARE_VERSION = "0.1.0"


def build(port, cfg, on_config=None, console=None):
    """console: (stream, write) already open (setup/watch.py); default:
    port.open_console()."""
    from app import config as app_config
    from setup import bundle
    from setup.commands import Commands
    from setup.identity import Identity
    from setup.service import SetupService

    root = port.flash_dir()
    chip = port.chip_id()
    device_id = "gg-" + chip[-12:]

    def info():
        c = app_config.load(root)
        return {2: chip, 3: device_id, 4: FIRMWARE_VERSION,
                5: bool(c.get("fleet_keys")), 7: port.name}

    def write_config(data, wifi):
        c = app_config.load(root)
        new = bundle.apply(root, c, device_id, data, wifi)
        if on_config:
            on_config(new)

    commands = Commands(root, Identity(port.nvs()), info, write_config, on_reboot=port.reset)
    stream, write = console or port.open_console()
    return SetupService(stream, write, commands, log=port.log)
