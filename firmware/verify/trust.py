# The issuer keys this device trusts, indexed by kid.
#
# Each key is prepared once (crypto/ed25519.prepare: per-key tables) when the
# trust list is installed, so a scan only pays for the verification itself.
# Several keys may share a kid (kids are 8-byte hashes; a collision, accidental
# or forged, must not lock out the genuine issuer): the verifier tries them all.
#
# File format (written by the host, greengate/passes/keys.py device_trust_bytes):
# a CBOR array of [kid: bstr 1..16, public_key: bstr 32, issuer: text 1..32,
# not_after: uint unix seconds, 0 = no end]. A malformed file is refused as a
# whole (StoreError NOT_PROVISIONED): half a trust list is worse than none.
import errors
from verify import reasons


class TrustStore:
    def __init__(self):
        self._by_kid = {}
        self.count = 0     # keys installed
        self.invalid = 0   # keys refused by ed25519.prepare (not a curve point)

    def __len__(self):
        return self.count

    def clear(self):
        self._by_kid = {}
        self.count = 0
        self.invalid = 0

    def add(self, public_key_raw, issuer_id, kid=None, not_after=0, prepared=None):
        """Install one key; False if it is not a valid Ed25519 public key.
        prepared: ed25519.prepare() of this very key from an earlier store
        (prepared_keys()), reused instead of preparing it again."""
        from crypto import ed25519

        public_key_raw = bytes(public_key_raw)
        if kid is None:
            import hashlib

            kid = hashlib.sha256(public_key_raw).digest()[:8]
        kid = bytes(kid)
        entries = self._by_kid.get(kid)
        if entries is None:
            entries = self._by_kid[kid] = []
        for e in entries:
            if e[3] == public_key_raw:
                return True  # already installed
        if prepared is None or getattr(prepared, "raw", None) != public_key_raw:
            prepared = ed25519.prepare(public_key_raw)
        if prepared is None:
            self.invalid += 1
            if not entries:
                del self._by_kid[kid]
            return False
        entries.append((prepared, issuer_id, not_after or 0, public_key_raw))
        self.count += 1
        return True

    def prepared_keys(self):
        """{public_key_raw: PreparedKey}: for the next store built from a new
        trust list, so unchanged keys skip the prepare (time, heap peak)."""
        out = {}
        for entries in self._by_kid.values():
            for e in entries:
                out[e[3]] = e[0]
        return out

    def keys_for(self, kid):
        """Prepared keys with this kid (empty list if none)."""
        return [e[0] for e in self._by_kid.get(kid, ())]

    def entries_for(self, kid):
        """(prepared_key, issuer_id, not_after, public_key_raw) tuples with this kid."""
        return self._by_kid.get(kid, ())

    def load_bytes(self, data):
        """Replace the store with the keys of a trust file; returns the key count."""
        from codec import cbor

        try:
            items = cbor.loads(data)
        except errors.GateError:
            raise errors.StoreError(reasons.NOT_PROVISIONED, "trust file unreadable")
        if type(items) is not list:
            raise errors.StoreError(reasons.NOT_PROVISIONED, "trust file not a list")
        for it in items:
            if (
                type(it) is not list
                or len(it) != 4
                or type(it[0]) is not bytes
                or not 1 <= len(it[0]) <= 16
                or type(it[1]) is not bytes
                or len(it[1]) != 32
                or type(it[2]) is not str
                or not 1 <= len(it[2]) <= 32
                or type(it[3]) is not int
                or it[3] < 0
            ):
                raise errors.StoreError(reasons.NOT_PROVISIONED, "bad trust entry")
        self.clear()
        for it in items:
            self.add(it[1], it[2], it[0], it[3])
        return self.count

    def load(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            raise errors.StoreError(reasons.NOT_PROVISIONED, "no trust file")
        return self.load_bytes(data)
