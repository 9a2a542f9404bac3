# The device's configuration file on flash (config.json), written by the
# provisioning tool or the simulator. Missing keys take the defaults; a
# missing or broken file gives the defaults plus an `error` the device
# reports (it never stops the gate from booting).
import json

DEFAULTS = {
    "device_id": "gg-unprovisioned",
    "site_id": None,
    "fleet_keys": [],
    "release_keys": [],
    "wifi": {"ssid": "", "password": ""},
    "broker": {"url": "mqtt://127.0.0.1:1883"},
    "pins": {},
    "scanner": {
        "uart": 1,
        "baud": 115200,
        "mode": "continuous",
        "terminator": "cr",
        "same_code_ms": 1000,
        "fallback_baud": 9600,
        "timeout_ms": 500,
        "inter_byte_ms": 60,
        "max_len": 1280,  # the longest real EU DCC (RSA-4096 signer) is ~1,190 chars
        "repeat_ms": 3000,
    },
    "gate": {"relay_ms": 3000, "relay_active_high": True, "debounce_ms": 50,
             "led_ms": 2000},
    "display": {"kind": "ssd1306"},
    "watchdog_ms": 10000,
    "queue": 8,
    # wait for the fleet's ack of a scan batch before sending it again
    # (doubles per timeout up to 120 s; docs/outbox-and-mqtt.md)
    "fleet_ack_ms": 15000,
}
# int settings: (lowest, highest) accepted; anything else takes the default
# and sets `error` ("invalid <key>")
_INT_RANGES = {"fleet_ack_ms": (100, 120000)}

FILE = "config.json"


def _merge(base, extra):
    out = {}
    for k in base:
        out[k] = base[k]
    for k in extra:
        v = extra[k]
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load(flash_dir):
    path = flash_dir + "/" + FILE
    try:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except OSError:
        cfg = _merge(DEFAULTS, {})
        cfg["error"] = "missing"
        return cfg
    except ValueError:
        cfg = _merge(DEFAULTS, {})
        cfg["error"] = "invalid"
        return cfg
    cfg = _merge(DEFAULTS, data)
    cfg["error"] = None
    for k in _INT_RANGES:
        lo, hi = _INT_RANGES[k]
        v = cfg[k]
        if not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
            cfg[k] = DEFAULTS[k]
            cfg["error"] = "invalid " + k
    return cfg


def fleet_keys(cfg):
    """The fleet's Ed25519 public keys (config "fleet_keys": hex strings);
    malformed entries are skipped."""
    return _keys(cfg, "fleet_keys")


def release_keys(cfg):
    """The release keys firmware updates must be signed with (config
    "release_keys", from the provisioning bundle; docs/protocol.md
    "Firmware updates")."""
    return _keys(cfg, "release_keys")


def _keys(cfg, name):
    import binascii

    out = []
    keys = cfg.get(name)
    if not isinstance(keys, list):
        return out
    for k in keys:
        try:
            raw = binascii.unhexlify(k)
        except (TypeError, ValueError):
            continue
        if len(raw) == 32:
            out.append(raw)
    return out


def save(flash_dir, cfg):
    """Write config.json atomically (temp file + rename), without the
    load-time `error` field."""
    from fsutil import write_atomic

    data = {}
    for k in cfg:
        if k != "error":
            data[k] = cfg[k]
    write_atomic(flash_dir + "/" + FILE, json.dumps(data).encode())
