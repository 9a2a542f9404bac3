"""setup/identity.py signs with the verifier's comb (crypto.ed25519.base_mul):
its keys and signatures must stay RFC 8032's.

Runs under MicroPython; `cryptography` (OpenSSL) derives the same key pair
from each seed and signs the same message (Ed25519 signing is deterministic).
"""

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mpy import run_micropython

SCRIPT = """
import json, sys
from setup import identity
for line in sys.stdin:
    req = json.loads(line)
    seed = bytes.fromhex(req["seed"])
    msg = bytes.fromhex(req["msg"])
    print(json.dumps({"pk": identity.public_key_from_seed(seed).hex(),
                      "sig": identity.sign(seed, msg).hex()}))
"""


def test_device_identity_matches_openssl(tmp_path):
    seeds = [bytes(32), bytes(range(32)), bytes([0xFF] * 32)] + [bytes((7 * i + j) % 256 for j in range(32)) for i in range(5)]
    msgs = [b"", b"challenge", bytes(range(200))]
    reqs = [{"seed": s.hex(), "msg": msgs[i % len(msgs)].hex()} for i, s in enumerate(seeds)]
    script = tmp_path / "identity_driver.py"  # long -c arguments crash the port
    script.write_text(SCRIPT)
    proc = run_micropython(script, stdin="".join(json.dumps(r) + "\n" for r in reqs))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(reqs)
    for req, ans in zip(reqs, answers):
        sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(req["seed"]))
        pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert ans["pk"] == pk.hex()
        assert ans["sig"] == sk.sign(bytes.fromhex(req["msg"])).hex()
