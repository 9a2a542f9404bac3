# Builds the decision pipeline from the signed control messages the device
# has applied (control/state.py files + their blobs on flash):
#   kind 2 trust list  -> verify.trust.TrustStore -> verify.verifier.Verifier
#   kind 3 revocation  -> store.revocation.Revocations (snapshot + delta blobs)
#   kind 1 site config -> gate.rules.SiteConfig (+ allowlist blob)
#   kind 7 DCC table   -> verify.dcc.DccVerifier on its files (optional:
#                         without it an EU DCC is NOT_PROVISIONED, GG1 as before)
# Returns None while any of them is missing: the pipeline then answers
# NOT_PROVISIONED. A broken file is logged and also gives None (refuse all)
# rather than a half-built pipeline.
import gc


def reusable(decider):
    """The parts of a decider a rebuild may keep when their inputs did not
    change (load_decider's reuse): prepared keys by raw key, the revocation
    store by its blob hashes, the allowlist by its blob hash. Rebuilding only
    what changed keeps the heap peak of a config or revocation update low
    (no Ed25519 prepare, no new 10 KB index block in a fragmented heap)."""
    out = {}
    if decider is None:
        return out
    trust = getattr(getattr(decider, "verifier", None), "trust", None)
    if hasattr(trust, "prepared_keys"):
        out["keys"] = trust.prepared_keys()
    rev = getattr(decider, "revocations", None)
    if getattr(rev, "refs", None) is not None and rev.snapshot is not None:
        out["revocations"] = rev
    dcc = getattr(decider, "dcc", None)
    if dcc is not None:
        out["dcc"] = dcc
    cfg = getattr(decider, "config", None)
    ref = getattr(cfg, "allowlist_ref", None)
    if ref and cfg.allowlist is not None:
        out["allowlist"] = (ref[1], cfg.allowlist)
    return out


def load_decider(root, state, clock, occupancy, log, tick=None, reuse=None):
    """tick(): called between keys (each Ed25519 prepare is ~0.5 s on an
    ESP32): main feeds the watchdog there, the loop is bounded.
    reuse: reusable(previous decider), a dict this function empties: the
    parts whose inputs are unchanged are kept, the others are dropped before
    anything new is allocated.
    MemoryError is not caught: `reuse` then holds what is done (unchanged
    parts, the newly opened store and allowlist, the keys prepared so far),
    so the caller's retry (policy.reload) does not redo it."""
    if reuse is None:
        reuse = {}
    trust_body = state.body(2)
    rev_body = state.body(3)
    cfg_body = state.body(1)
    if trust_body is None or rev_body is None or cfg_body is None:
        reuse.clear()
        return None
    try:
        from control import blob
        from gate import rules
        from gate.decide import Decider
        from store.revocation import Revocations
        from verify.trust import TrustStore
        from verify.verifier import Verifier

        # The caller dropped the old decider; of its parts only those whose
        # inputs are unchanged are kept, the rest is freed first. Then the
        # big long-lived blocks (revocation index ~10 KB per million
        # entries, allowlist, 12 KB table per key) are taken while the freed
        # holes are still whole, before the bigint churn of the Ed25519
        # prepares fragments the heap (docs/memory.md).
        delta_ref = rev_body.get(2)
        refs = (rev_body[1][1], delta_ref[1] if delta_ref else None)
        ref = cfg_body.get(6) if type(cfg_body) is dict else None
        revocations = reuse.get("revocations")
        if revocations is not None and revocations.refs != refs:
            del reuse["revocations"]  # another list: dropped before the new one opens
            # closed now: its blob may be deleted next, and LittleFS must not
            # remove a file that is still open
            revocations.close()
            revocations = None
        old_allow = reuse.pop("allowlist", None)
        allowlist = old_allow[1] if old_allow and ref and old_allow[0] == ref[1] else None
        if old_allow and allowlist is None:
            old_allow[1].close()  # same reason
        old_allow = None
        if allowlist is not None:
            reuse["allowlist"] = (ref[1], allowlist)
        keys = reuse.get("keys") or {}
        listed = {}
        for entry in trust_body:
            pk = keys.get(entry[1]) if type(entry[1]) is bytes else None
            if pk is not None:
                listed[entry[1]] = pk
        reuse["keys"] = listed  # keys no longer listed are freed now
        keys = None
        gc.collect()
        if revocations is None:
            revocations = Revocations.open(
                blob.blob_path(root, refs[0]),
                blob.blob_path(root, refs[1]) if refs[1] else None)
            revocations.refs = refs  # what reusable() compares next time
            reuse["revocations"] = revocations
        if ref and allowlist is None:
            allowlist = rules.load_allowlist(blob.blob_path(root, ref[1]))
            reuse["allowlist"] = (ref[1], allowlist)
        site = rules.SiteConfig(cfg_body, allowlist)
        dcc = _dcc_verifier(root, state.body(7), reuse)
        gc.collect()
        # a retry after MemoryError goes on with the keys already installed
        trust = reuse.get("trust")
        if trust is None:
            trust = reuse["trust"] = TrustStore()
        for entry in trust_body:
            pk = listed.get(entry[1]) if type(entry[1]) is bytes else None
            trust.add(entry[1], entry[2], entry[0], entry[3], prepared=pk)
            if tick is not None:
                tick()
        listed = None
        gc.collect()
        decider = Decider(Verifier(trust), revocations, site, occupancy, clock, sync=state, dcc=dcc)
        reuse.clear()
        return decider
    except MemoryError:
        raise  # not a broken file: the caller retries or resets (policy.reload)
    except Exception as e:  # noqa: any broken piece refuses every pass, logged
        reuse.clear()
        log("provisioned state unusable: %r" % (e,))
        return None


def _dcc_verifier(root, body, reuse):
    """DccVerifier on the applied DCC table (checked whole when it was
    applied: control/service.py), or None if no table was applied. It keeps
    no file open (each check opens the table), so an old one needs no
    closing; it is kept when its blobs did not change (reuse["dcc"])."""
    old = reuse.pop("dcc", None)
    if body is None:  # no DCC table applied: nothing of it is loaded
        return None
    from verify import dsc

    snap, delta = dsc.body_paths(root, body)
    # a blob's path names its SHA-256 (control/blob.py): same paths, same table
    if old is not None and old.snapshot == snap and old.delta == delta:
        v = old
    else:
        trust = dsc.open_files(snap, delta)  # header, delta made for this snapshot
        try:
            count = trust.key_count()
        finally:
            trust.close()
        from app import unload
        from verify.dcc import DccVerifier

        v = DccVerifier(snap, delta, drop=unload)
        v.count = count
    reuse["dcc"] = v
    return v
