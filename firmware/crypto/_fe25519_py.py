"""Plain-Python stand-in for crypto/_fe25519_viper.py (CPython, tests).

Same programs, same interface; a slot is a Python int mod p instead of 20
viper limbs. ed25519.py picks it when not running under MicroPython, so the
curve formulas (the programs) are checked under CPython too; the limb code
itself is checked by tests/firmware/crypto/test_fe25519.py.
"""

P = 2**255 - 19


def new_mem(slots):
    return [0] * slots


def recode(out, src):
    """Signed radix-16 digits of the 32-byte scalar src (< 2^253)."""
    carry = 0
    for i in range(32):
        e = (src[i] & 15) + carry
        carry = (e + 8) >> 4
        out[2 * i] = e - (carry << 4)
        e = (src[i] >> 4) + carry
        carry = (e + 8) >> 4
        out[2 * i + 1] = e - (carry << 4)


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
            mem[d] = int.from_bytes(bytes(ext[o:o + 32]), "little")
        elif op == 5:
            o = off + 32 * d
            mem[a] %= P
            ext[o:o + 32] = mem[a].to_bytes(32, "little")
        elif op == 6:
            mem[d] = a
        elif op == 255:
            return
        else:
            raise ValueError("bad opcode")
