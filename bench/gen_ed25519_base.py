"""Generate firmware/crypto/_ed25519_base.py: the comb table of the base point.

Run on the host from the repo root:
    python3 bench/gen_ed25519_base.py > firmware/crypto/_ed25519_base.py
It uses the firmware's own build_table() (under CPython with tests/shim), so
the constant is exactly what prepare() would compute for B; a test checks that.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "shim"), str(ROOT / "firmware")]

from gen_bytes import print_bytes  # noqa: E402

from crypto import ed25519  # noqa: E402


def main():
    table = bytes(ed25519.build_table(ed25519.BX, ed25519.BY))
    print('"""Comb table of the Ed25519 base point B (generated, do not edit).')
    print()
    print("Entry 8m + j - 1 (96 bytes: y+x, y-x, 2dxy, little-endian) = j * 2^(16m) * B.")
    print("Regenerate: python3 bench/gen_ed25519_base.py > firmware/crypto/_ed25519_base.py")
    print('"""')
    print()
    print_bytes("TABLE", table)


if __name__ == "__main__":
    main()
