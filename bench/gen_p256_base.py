"""Generate firmware/crypto/_p256_base.py: the comb table of G for P-256 verify.

Run on the host from the repo root:
    python3 bench/gen_p256_base.py > firmware/crypto/_p256_base.py
It uses the firmware's own build_table() (under CPython with tests/shim), so
the constant is exactly what the device would compute; a test checks that
the file is current and that the device computes the same bytes.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "shim"), str(ROOT / "firmware")]

from gen_bytes import print_bytes  # noqa: E402

from crypto import p256  # noqa: E402


def main():
    table = bytes(p256.build_table())
    print('"""Odd multiples of the P-256 base point G (generated, do not edit).')
    print()
    per = 1 << (p256.G_WINDOW - 2)
    print("Entry %d*j + i (64 bytes: affine x || y, big-endian) = (2i + 1) * 2^(%d*j) * G," % (per, p256._SPACING))
    print("j = 0..%d, i = 0..%d: the comb table of crypto/p256.py." % (len(table) // 64 // per - 1, per - 1))
    print("Regenerate: python3 bench/gen_p256_base.py > firmware/crypto/_p256_base.py")
    print('"""')
    print()
    print_bytes("TABLE", table)


if __name__ == "__main__":
    main()
