"""The firmware's PNG writer: arbitrary images decode with Pillow to exactly
the pixels written (grey 1-bit and RGB 8-bit, runs, repeats and noise)."""
import random

import pytest
from PIL import Image


def rows_for(kind, w, h, rnd):
    stride = (w + 7) // 8 if kind == "gray1" else w * 3
    rows = []
    for y in range(h):
        mode = rnd.choice(["noise", "flat", "repeat", "stripes"])
        if mode == "repeat" and rows:
            rows.append(rows[-1])
            continue
        if mode == "noise":
            row = bytes(rnd.randrange(256) for _ in range(stride))
        elif mode == "flat":
            row = bytes([rnd.randrange(256)]) * stride
        else:
            px = bytes(rnd.randrange(256) for _ in range(3))
            row = (px * stride)[:stride]
        rows.append(row)
    return rows


CASES = [("gray1", 128, 64), ("gray1", 13, 7), ("rgb", 240, 24), ("rgb", 1, 1),
         ("rgb", 97, 40), ("gray1", 600, 3)]


@pytest.mark.parametrize("seed", [1, 2])
def test_png_round_trip(display_run, tmp_path, seed):
    rnd = random.Random(seed)
    reqs, expect = [], []
    for i, (kind, w, h) in enumerate(CASES):
        rows = rows_for(kind, w, h, rnd)
        ct, depth = (0, 1) if kind == "gray1" else (2, 8)
        reqs.append({"op": "png", "w": w, "h": h, "ct": ct, "depth": depth,
                     "rows": [r.hex() for r in rows], "out": str(tmp_path / f"{i}.png")})
        expect.append((kind, w, h, rows))
    display_run(reqs)
    for q, (kind, w, h, rows) in zip(reqs, expect):
        with Image.open(q["out"]) as im:
            im.load()
            assert im.size == (w, h)
            if kind == "gray1":
                assert im.mode == "1"
                want = Image.frombytes("1", (w, h), b"".join(rows))
                assert im.tobytes() == want.tobytes()
            else:
                assert im.mode == "RGB"
                assert im.tobytes() == b"".join(rows)
