"""Plain-Python stand-in for crypto/_fe256_viper.py (CPython, tests).

Same programs, same interface; a slot is a Python int mod p instead of 20
viper limbs. p256.py picks it when not running under MicroPython, so the
point formulas (the programs) are checked under CPython too; the limb code
itself is checked by tests/firmware/crypto/test_p256_field.py.
"""

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF


def new_mem(slots):
    return [0] * slots


def run(mem, _mem, prog, ext, off):
    pc = 0
    while True:
        op, d, a, b = prog[pc], prog[pc + 1], prog[pc + 2], prog[pc + 3]
        pc += 4
        if op == 0:
            mem[d] = mem[a] * mem[b] % P
        elif op == 1:
            x = mem[a]
            for _ in range(b):
                x = x * x % P
            mem[d] = x
        elif op == 2:
            mem[d] = (mem[a] + mem[b]) % P
        elif op == 3:
            mem[d] = (mem[a] - mem[b]) % P
        elif op == 4:
            o = off + 32 * a
            mem[d] = int.from_bytes(bytes(ext[o:o + 32]), "big")
        elif op == 5:
            o = off + 32 * d
            mem[a] %= P
            ext[o:o + 32] = mem[a].to_bytes(32, "big")
        elif op == 6:
            mem[d] = a
        elif op == 7:
            mem[d] = mem[a] * b % P
        elif op == 8:
            off -= 1
            if off > 0:
                pc = 0
        elif op == 255:
            return
        elif op >= 16:
            mem[d] = ((((op - 16) >> 3) + 1) * mem[a] - (((op - 16) & 7) + 1) * mem[b]) % P
        else:
            raise ValueError("bad opcode")


def naf(out, src, w):
    """Width-w NAF of the 32-byte big-endian scalar src (as the viper one)."""
    k = int.from_bytes(bytes(src), "big")
    full = 1 << w
    i = last = 0
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= full >> 1:
                d -= full
            k -= d
            out[i] = d & 0xFF
            last = i + 1
        k >>= 1
        i += 1
    return last
