"""The device's update parts under MicroPython, byte-exact against the host
library: manifests (release signature, every field, hostile paths), the
anti-rollback rule, and the chunk receiver (hostile chunks, resume after a
cut, a wrong whole-blob hash)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import blobs
from greengate.ota import release as rel
from greengate.passes import reasons
from mpy import MICROPYTHON, mpy_env, run_micropython, script_file

KEY = Ed25519PrivateKey.generate()
PUB = rel.raw_public(KEY)
GOOD = {1: 5, 2: "0.5.0", 3: 2, 4: 0, 5: 1_765_000_000,
        6: [["app/boot.mpy", 3, hashlib.sha256(b"abc").digest()], ["main.mpy", 2, b"\1" * 32]],
        7: {1: b"\2" * 32, 2: 5}}

MANIFEST_DRIVER = """
import sys, json, binascii
import errors
from ota import manifest
keys = [binascii.unhexlify(k) for k in json.loads(sys.stdin.readline())]
for line in sys.stdin:
    case = json.loads(line)
    data = binascii.unhexlify(case["data"])
    try:
        m = manifest.check(data, keys if case.get("keys", True) else [])
        out = {"ok": [m.release, m.version, m.min_previous, m.target, m.size,
                      [[p, n, binascii.hexlify(h).decode()] for p, n, h in m.files]]}
        if "installed" in case:
            manifest.admit(m, case["installed"], case.get("failed", 0))
    except errors.UpdateError as e:
        out = {"reason": e.reason}
    print(json.dumps(out))
"""


def signed(body, key=KEY):
    return rel.sign_manifest(body, key)


def cases():
    bad = [
        {**GOOD, 1: 0}, {**GOOD, 1: "5"}, {**GOOD, 2: ""}, {**GOOD, 2: 5}, {**GOOD, 3: -1},
        {**GOOD, 4: 2}, {**GOOD, 5: -1}, {**GOOD, 6: []}, {**GOOD, 6: "x"},
        {**GOOD, 7: {1: b"\2" * 32, 2: 6}}, {**GOOD, 7: {1: b"\2" * 31, 2: 5}},
        {k: v for k, v in GOOD.items() if k != 7},
    ]
    for path in ("../boot.py", "/main.mpy", "app//x.mpy", "app/./x", "a\\b", "x" * 65):
        bad.append({**GOOD, 6: [[path, 5, b"\0" * 32]]})
    for entry in (["a", 5], ["a", 5, b"\0" * 32, 1], [5, 5, b"\0" * 32], ["a", -5, b"\0" * 32]):
        bad.append({**GOOD, 6: [entry]})
    out = [({"data": signed(GOOD).hex()}, {"ok": [5, "0.5.0", 2, 0, 5, [
        ["app/boot.mpy", 3, hashlib.sha256(b"abc").hexdigest()], ["main.mpy", 2, "01" * 32]]]})]
    out += [({"data": signed(b).hex()}, {"reason": reasons.code("OTA_MALFORMED")}) for b in bad]
    other = Ed25519PrivateKey.generate()
    sig = "OTA_SIGNATURE"
    tag = cbor2.loads(signed(GOOD))
    prot, unprot, payload, signature = tag.value
    raised = cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, cbor2.dumps({**GOOD, 1: 6}), signature]))
    no_alg = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({4: b"k"}), unprot, payload, signature]))
    for data in (signed(GOOD, other), raised, no_alg, b"", b"\xff\x00", cbor2.dumps([1, 2, 3]),
                 cbor2.dumps(cbor2.CBORTag(18, [b"", {}, payload, b""])), b"\x84" + b"\x40" * 3):
        out.append(({"data": data.hex()}, {"reason": reasons.code(sig)}))
    out.append(({"data": signed(GOOD).hex(), "keys": False}, {"reason": reasons.code("OTA_NO_KEY")}))
    rules = [(4, 0, None), (5, 0, "OTA_REPLAY"), (6, 0, "OTA_DOWNGRADE"), (1, 0, "OTA_TOO_OLD"),
             (2, 0, None), (4, 5, "OTA_PROBATION_FAILED")]
    for installed, failed, reason in rules:
        want = {"reason": reasons.code(reason)} if reason else out[0][1]
        out.append(({"data": signed(GOOD).hex(), "installed": installed, "failed": failed}, want))
    return out


def test_manifests_checked_like_the_host_does():
    cs = cases()
    stdin = json.dumps([PUB.hex()]) + "\n" + "".join(json.dumps(c) + "\n" for c, _ in cs)
    r = run_micropython(MANIFEST_DRIVER, stdin=stdin)
    assert r.returncode == 0, r.stderr.decode()
    got = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(got) == len(cs)
    for (case, want), out in zip(cs, got):
        assert out == want, (case, out)
    # the host refuses the same malformed bodies
    for case, want in cs[1:]:
        if want.get("reason") == reasons.code("OTA_MALFORMED"):
            with pytest.raises(rel.ReleaseError):
                rel.verify_manifest(bytes.fromhex(case["data"]), [PUB])


RECEIVER_DRIVER = """
import sys, json, binascii, os
import errors
from codec import cbor
from ota import fetch
root = sys.argv[1]
def rx_for(ref):
    return fetch.Receiver(ref, fetch.FileSink(root + "/blob.bin"))
rx = None
for line in sys.stdin:
    case = json.loads(line)
    if "ref" in case:
        r = case["ref"]
        rx = rx_for({1: binascii.unhexlify(r[0]), 2: r[1], 3: r[2]})
        print(json.dumps({"next": rx.next}))
        continue
    try:
        done = rx.add(cbor.loads(binascii.unhexlify(case["chunk"])))
        print(json.dumps({"done": done, "next": rx.next}))
    except errors.UpdateError as e:
        print(json.dumps({"reason": e.reason, "next": rx.next}))
    except errors.GateError as e:
        print(json.dumps({"decode": e.reason}))
"""


def test_receiver_hostile_chunks_resume_and_hash(tmp_path):
    data = bytes(range(256)) * 20 + b"tail"  # 5124 bytes, 768-byte chunks: 7
    ref = blobs.blob_ref(data, 768)
    msgs = [blobs.chunk_message(data, i, 768) for i in range(7)]

    def chunk(i, change):
        m = cbor2.loads(msgs[i])
        m.update(change)
        return cbor2.dumps(m).hex()

    lines = [{"ref": [ref[1].hex(), ref[2], 768]},
             {"chunk": msgs[1].hex()},                    # out of order: ignored
             {"chunk": msgs[0].hex()},
             {"chunk": chunk(1, {1: b"\0" * 8})},       # another blob: ignored
             {"chunk": chunk(1, {3: 8})},               # wrong count
             {"chunk": chunk(1, {4: b"x" * 767})},      # short
             {"chunk": chunk(1, {2: "1"})},             # index not an int
             {"chunk": "ff"},                             # not CBOR
             {"chunk": msgs[1].hex()},
             {"chunk": msgs[2].hex()},
             {"ref": [ref[1].hex(), ref[2], 768]}]        # a reboot: resumes after chunk 2
    lines += [{"chunk": msgs[i].hex()} for i in range(3, 6)]
    lines += [{"chunk": chunk(6, {4: data[6 * 768:-1] + b"T"})},        # wrong data: whole hash fails
              {"chunk": msgs[0].hex()}]                   # starts over
    r = run_micropython(RECEIVER_DRIVER, args=[str(tmp_path)],
                        stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert r.returncode == 0, r.stderr.decode()
    out = [json.loads(x) for x in r.stdout.decode().splitlines()]
    mal = reasons.code("OTA_MALFORMED")
    assert out[:10] == [{"next": 0}, {"done": False, "next": 0}, {"done": False, "next": 1},
                        {"done": False, "next": 1}, {"reason": mal, "next": 1},
                        {"reason": mal, "next": 1}, {"reason": mal, "next": 1},
                        {"decode": reasons.code("CBOR")}, {"done": False, "next": 2},
                        {"done": False, "next": 3}]
    assert out[10] == {"next": 3}
    assert out[13] == {"done": False, "next": 6}
    assert out[14] == {"reason": reasons.code("OTA_HASH"), "next": 0}
    assert out[15] == {"done": False, "next": 1}
    assert not (tmp_path / "blob.bin").exists()

    # and a clean run ends with the blob in place, byte-identical
    (tmp_path / "blob.bin.part").unlink()
    lines = [{"ref": [ref[1].hex(), ref[2], 768]}] + [{"chunk": m.hex()} for m in msgs]
    r = run_micropython(RECEIVER_DRIVER, args=[str(tmp_path)],
                        stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert json.loads(r.stdout.decode().splitlines()[-1]) == {"done": True, "next": 7}
    assert (tmp_path / "blob.bin").read_bytes() == data


IMAGE_DRIVER = """
import sys, json, binascii
from codec import cbor
from ota import fetch, image
ref = json.loads(sys.stdin.readline())
ref = {1: binascii.unhexlify(ref[0]), 2: ref[1], 3: ref[2]}
part = image.FilePartition(1)
saved = 0
out = []
for line in sys.stdin:
    case = json.loads(line)
    if "boot" in case:  # a power cut: a new receiver from the saved progress
        rx = fetch.Receiver(ref, image.ImageSink(part, case["boot"]))
        out.append(rx.next)
        continue
    done = rx.add(cbor.loads(binascii.unhexlify(case["chunk"])))
    saved = rx.sink.sync()
    out.append([done, rx.next, saved])
print(json.dumps(out))
"""


def test_image_sink_streams_into_the_partition_and_resumes(tmp_path):
    data = bytes((i * 7) & 0xFF for i in range(3 * 4096 + 1000))  # 13,288 B: 18 chunks, 4 blocks
    ref = blobs.blob_ref(data, 768)
    msgs = [blobs.chunk_message(data, i, 768) for i in range(18)]
    lines = [json.dumps([ref[1].hex(), ref[2], 768]), json.dumps({"boot": 0})]
    lines += [json.dumps({"chunk": msgs[i].hex()}) for i in range(7)]
    # the power goes after chunk 6 (5,376 B written); the state saved 4,100
    lines += [json.dumps({"boot": 4100})]
    lines += [json.dumps({"chunk": msgs[i].hex()}) for i in range(5, 18)]
    flash = tmp_path / "flash"
    (flash / "ota").mkdir(parents=True)
    env = mpy_env()
    env["GG_FLASH_DIR"] = str(flash)
    r = subprocess.run([MICROPYTHON, script_file(IMAGE_DRIVER)],
                       input="\n".join(lines).encode() + b"\n", capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout)
    assert out[0] == 0 and out[8] == 5  # resumes at the whole chunk under the saved 4,100 B
    assert out[-1][0] is True and out[-1][1] == 18
    written = (flash / "ota" / "ota_1.bin").read_bytes()
    assert written[:len(data)] == data and set(written[len(data):]) <= {0xFF}
    assert len(written) == 4 * 4096  # whole erased blocks
