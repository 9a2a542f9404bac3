# Builds the decision pipeline from the signed control messages the device
# has applied (control/state.py files + their blobs on flash):
#   kind 2 trust list  -> verify.trust.TrustStore -> verify.verifier.Verifier
#   kind 3 revocation  -> store.revocation.Revocations (snapshot + delta blobs)
#   kind 1 site config -> gate.rules.SiteConfig (+ allowlist blob)
# Returns None while any of them is missing: the pipeline then answers
# NOT_PROVISIONED. A broken file is logged and also gives None (refuse all)
# rather than a half-built pipeline.
import gc


def control_root(flash_dir):
    return flash_dir + "/control"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def load_decider(root, state, clock, occupancy, log, tick=None):
    """tick(): called between keys (each Ed25519 prepare is ~0.5 s on an
    ESP32): main feeds the watchdog there, the loop is bounded."""
    trust_body = state.body(2)
    rev_body = state.body(3)
    cfg_body = state.body(1)
    if trust_body is None or rev_body is None or cfg_body is None:
        return None
    try:
        from control import blob
        from gate import rules
        from gate.decide import Decider
        from store.revocation import Revocations
        from verify.trust import TrustStore
        from verify.verifier import Verifier

        trust = TrustStore()
        for entry in trust_body:
            trust.add(entry[1], entry[2], entry[0], entry[3])
            if tick is not None:
                tick()
        delta_ref = rev_body.get(2)
        revocations = Revocations.open(
            blob.blob_path(root, rev_body[1][1]),
            blob.blob_path(root, delta_ref[1]) if delta_ref else None)
        allowlist = None
        ref = cfg_body.get(6) if type(cfg_body) is dict else None
        if ref:
            allowlist = rules.load_allowlist(_read(blob.blob_path(root, ref[1])))
        site = rules.SiteConfig(cfg_body, allowlist)
        gc.collect()
        return Decider(Verifier(trust), revocations, site, occupancy, clock, sync=state)
    except Exception as e:  # noqa: any broken piece refuses every pass, logged
        log("provisioned state unusable: %r" % (e,))
        return None
