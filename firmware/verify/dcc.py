# The EU DCC verifier a DCC site keeps between scans (verify/dcccheck.py has
# the pipeline and the reasons):
#
#   DccVerifier(snapshot_path, delta_path=None, clock_skew=300, drop=None)
#   .check(qr_text, now) -> Result        never raises
#
# It holds only where its signer table is (the GGDT files of verify/dsc.py,
# checked whole when applied); the table is opened per check. Everything
# a check loads (RARE) the app drops again after each DCC scan
# (app/decisions.py), so a gate that mostly sees GG1 passes keeps its steady
# heap: a DCC site costs it this small module and one object (docs/memory.md).
# No per-signer key table is kept either (a prepared P-256 key is 2 KB: 1.8
# ms instead of 4.4 ms per verify on the unix port; the ESP32's heap wins).
RARE = ("verify.dcccheck", "verify.dsc", "verify.dsccheck", "verify.hc1", "verify.dccfields",
        "crypto.p256", "crypto._p256_base", "crypto.rsa_pss", "codec.inflate")


class DccVerifier:
    def __init__(self, snapshot, delta=None, clock_skew=300, drop=None):
        self.snapshot = snapshot    # table file paths
        self.delta = delta
        self.clock_skew = clock_skew
        # drop(*module names): app.unload on the gate, called mid-check for
        # the decoding modules (frozen there: loading again costs no compile)
        self.drop = drop
        self.count = 0              # signers trusted (device state key 16)

    def check(self, qr_text, now):
        from verify import dcccheck

        return dcccheck.check(self, qr_text, now)
