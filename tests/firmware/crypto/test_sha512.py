"""SHA-512 (crypto/sha512.py) against FIPS 180-4 vectors and hashlib."""

import hashlib
import random

import pytest

# FIPS 180-4 / NIST CSRC examples.
KNOWN = [
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
     b"jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
     "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
]
MILLION_A = ("e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
             "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")

# Padding boundaries: 111/112 bytes decide whether the length fits the last block.
BOUNDARY = [0, 1, 55, 56, 63, 64, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 257, 383, 384]


def test_block_function_is_viper_under_micropython(mpy_run):
    (ans,) = mpy_run([{"op": "impl"}])
    assert (ans["sha"], ans["impl"]) == ("viper", "micropython")


@pytest.mark.parametrize("py", [False, True], ids=["default", "pure"])
def test_known_vectors(crypto_run, py):
    answers = crypto_run([{"op": "sha", "d": m.hex(), "py": py} for m, _ in KNOWN])
    assert [a["h"] for a in answers] == [h for _, h in KNOWN]


def test_million_a_streamed(crypto_run):
    # 1,000,000 bytes fed as 1000 updates of 1000 bytes (unaligned to 128).
    (ans,) = crypto_run([{"op": "sha_rep", "chunk": (b"a" * 1000).hex(), "n": 1000}])
    assert ans["h"] == MILLION_A


@pytest.mark.parametrize("py", [False, True], ids=["default", "pure"])
def test_random_lengths_match_hashlib(crypto_run, py):
    rng = random.Random(512)
    msgs = [rng.randbytes(n) for n in BOUNDARY]
    step = 1 if not py else 7  # the pure fallback is slow under MicroPython
    msgs += [rng.randbytes(n) for n in range(0, 1001, step)]
    answers = crypto_run([{"op": "sha", "d": m.hex(), "py": py} for m in msgs])
    for m, a in zip(msgs, answers):
        assert a["h"] == hashlib.sha512(m).hexdigest(), len(m)


def test_incremental_splits_match_hashlib(crypto_run):
    rng = random.Random(1024)
    reqs, expect = [], []
    for _ in range(300):
        total = rng.randrange(0, 700)
        data = rng.randbytes(total)
        cuts = sorted(rng.randrange(0, total + 1) for _ in range(rng.randrange(0, 6)))
        parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [total])]
        reqs.append({"op": "sha_parts", "parts": [p.hex() for p in parts]})
        expect.append(hashlib.sha512(data).hexdigest())
    assert [a["h"] for a in crypto_run(reqs)] == expect
