# The device's own Ed25519 key pair, made on the device at first SETUP from
# os.urandom; only the public key ever leaves it. The 32-byte seed lives in
# NVS on the ESP32 (port.nvs()), in the flash directory's NVS file under the
# unix port. Signing is used for one thing: proving to the fleet, during
# registration, that this device holds the key (SIGN answers a challenge).
#
# Signing reuses the verifier's field and table code: [a]B and [r]B are
# crypto.ed25519.base_mul (the base comb table). It is not constant-time;
# the only thing the device ever signs is a fresh fleet challenge over the
# USB cable.
from micropython import const

_NVS_KEY = "id_seed"
_SEED = const(32)


def _sha512(*parts):
    from crypto.sha512 import SHA512

    h = SHA512()
    for p in parts:
        h.update(p)
    return h.digest()


def _expand(seed):
    h = _sha512(seed)
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key_from_seed(seed):
    from crypto.ed25519 import base_mul

    a, _ = _expand(seed)
    return base_mul(a)  # a < 2^255; base_mul reduces it mod L


def sign(seed, message):
    """RFC 8032 Ed25519 signature of `message` with the key from `seed`."""
    from crypto import ed25519 as ed

    a, prefix = _expand(seed)
    pub = ed.base_mul(a)
    r = int.from_bytes(_sha512(prefix, message), "little") % ed.L
    R = ed.base_mul(r)
    k = int.from_bytes(_sha512(R, pub, message), "little") % ed.L
    S = (r + k * a) % ed.L
    return R + S.to_bytes(32, "little")


class Identity:
    def __init__(self, nvs):
        self.nvs = nvs
        self._pub = None

    def _seed(self):
        seed = self.nvs.get_blob(_NVS_KEY)
        if seed is None or len(seed) != _SEED:
            return None
        return bytes(seed)

    def public_key(self):
        if self._pub is None:
            seed = self._seed()
            if seed is not None:
                self._pub = public_key_from_seed(seed)
        return self._pub

    def ensure(self, rekey=False):
        """Make a key pair if there is none (or `rekey`); True if made."""
        if self._seed() is not None and not rekey:
            return False
        import os

        self.nvs.set_blob(_NVS_KEY, os.urandom(_SEED))
        self._pub = None
        return True

    def sign(self, message):
        seed = self._seed()
        if seed is None:
            return None
        return sign(seed, message)
