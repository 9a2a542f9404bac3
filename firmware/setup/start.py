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

    def trust():
        # the fleet keys config.json holds: the console's lock (setup/commands.py)
        import binascii

        return [binascii.unhexlify(k) for k in app_config.load(root).get("fleet_keys") or ()]

    def info():
        keys = trust()
        # 8: the fleet keys, so the tool can tell a foreign fleet before it sends anything
        return {2: chip, 3: device_id, 4: FIRMWARE_VERSION, 5: bool(keys), 7: port.name,
                8: keys}

    def write_config(data, wifi):
        c = app_config.load(root)
        new = bundle.apply(root, c, device_id, data, wifi)
        if on_config:
            on_config(new)

    commands = Commands(root, Identity(port.nvs()), info, write_config, on_reboot=port.reset,
                        device_id=device_id, trust=trust)
    stream, write = console or port.open_console()
    return SetupService(stream, write, commands, log=port.log)
