"""Hand-made zlib streams for the hostile-input tests: back-references a
compressor never writes (tests/firmware/codec/test_inflate.py,
tests/firmware/verify/test_hc1.py)."""
import zlib


def fixed_block(ops):
    """A zlib stream of one fixed-Huffman block (RFC 1951 3.2.6) made of
    ("lit", byte) and ("copy", length 3, distance) operations, and the output
    a window of zeros before the start gives (adler32 over that)."""
    bits = []

    def put(value, n, msb_first=False):
        rng = range(n - 1, -1, -1) if msb_first else range(n)
        bits.extend((value >> i) & 1 for i in rng)

    put(1, 1)  # BFINAL
    put(1, 2)  # BTYPE 01: fixed codes
    out = bytearray()
    for op, *arg in ops:
        if op == "lit":
            b = arg[0]
            if b < 144:
                put(0x30 + b, 8, True)
            else:
                put(0x190 + b - 144, 9, True)
            out.append(b)
        else:
            dist = arg[0]
            put(257 - 256, 7, True)  # length 3: symbol 257, no extra bits
            # distance code and its extra bits (RFC 1951 3.2.5)
            base, code = 1, 0
            while True:
                extra = max(0, (code >> 1) - 1)
                if dist < base + (1 << extra):
                    break
                base += 1 << extra
                code += 1
            put(code, 5, True)
            put(dist - base, extra)
            for _ in range(3):
                out.append(out[-dist] if dist <= len(out) else 0)
    put(0, 7, True)  # end of block
    bits += [0] * (-len(bits) % 8)
    data = bytes(sum(bits[i + k] << k for k in range(8)) for i in range(0, len(bits), 8))
    return b"\x78\x9c" + data + zlib.adler32(bytes(out)).to_bytes(4, "big"), bytes(out)
