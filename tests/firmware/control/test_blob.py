"""Chunked blob transfer (revocation snapshot, allowlist) under MicroPython:
in-order assembly, hash check against the signed reference, resume after a
reboot, foreign and out-of-order chunks ignored."""

import hashlib
import os

import cbor2
from ctrl_kit import run_driver

from greengate.control import blobs


def setup(tmp_path, data, chunk=256):
    root = tmp_path / "flash"
    root.mkdir()
    ref = blobs.blob_ref(data, chunk)
    files = []
    for i in range(blobs.chunk_count(len(data), chunk)):
        p = tmp_path / f"c{i}.cbor"
        p.write_bytes(blobs.chunk_message(data, i, chunk))
        files.append(str(p))
    begin = {"op": "begin", "sha": ref[1].hex(), "size": ref[2], "chunk": chunk}
    return root, ref, files, begin


def test_in_order_with_noise_and_resume(tmp_path):
    data = os.urandom(256 * 9 + 100)
    root, ref, files, begin = setup(tmp_path, data)
    other = tmp_path / "other.cbor"
    other.write_bytes(blobs.chunk_message(os.urandom(600), 0, 256))
    cmds = [begin, {"op": "request"},
            {"op": "chunk", "path": files[0]},
            {"op": "chunk", "path": files[2]},          # out of order: ignored
            {"op": "chunk", "path": str(other)},        # another blob: ignored
            {"op": "chunk", "path": files[1]},
            {"op": "chunk", "path": files[1]},          # duplicate: ignored
            {"op": "reboot"}, begin, {"op": "request"}]  # resumes at 2
    cmds += [{"op": "chunk", "path": f} for f in files[2:]]
    cmds += [{"op": "have"}]
    out = run_driver("blob_driver.py", [str(root)], cmds)
    assert out[0] == {"next": 0, "count": 10}
    assert blobs.parse_fetch(bytes.fromhex(out[1]["hex"])) == blobs.FetchRequest(ref[1], 0, 16)
    assert [o["next"] for o in out[2:7]] == [1, 1, 1, 2, 2]
    assert out[8]["next"] == 2
    assert blobs.parse_fetch(bytes.fromhex(out[9]["hex"])).first == 2
    assert [o["done"] for o in out[10:-1]] == [False] * 7 + [True]
    assert out[-1]["have"] is True
    final = root / f"blob_{ref[1][:8].hex()}.bin"
    assert final.read_bytes() == data
    assert out[-1]["files"] == [final.name]


def test_hash_mismatch_and_bad_chunks_are_refused(tmp_path):
    data = os.urandom(1000)
    root, ref, files, begin = setup(tmp_path, data)
    # a forged last chunk with the right id, index and length but other bytes
    forged = cbor2.loads(open(files[-1], "rb").read())
    forged[4] = bytes(len(forged[4]))
    (tmp_path / "forged.cbor").write_bytes(cbor2.dumps(forged))
    short = cbor2.loads(open(files[0], "rb").read())
    short[4] = short[4][:10]
    (tmp_path / "short.cbor").write_bytes(cbor2.dumps(short))
    cmds = [begin, {"op": "chunk", "path": str(tmp_path / "short.cbor")}]
    cmds += [{"op": "chunk", "path": f} for f in files[:-1]]
    cmds += [{"op": "chunk", "path": str(tmp_path / "forged.cbor")}, {"op": "have"}]
    out = run_driver("blob_driver.py", [str(root)], cmds)
    assert out[1]["error"] == 45
    assert out[-2]["error"] == 41 and "hash" in out[-2]["detail"]
    assert out[-1]["have"] is False
    assert not (root / f"blob_{ref[1][:8].hex()}.bin").exists()
    assert hashlib.sha256(data).digest() == ref[1]
