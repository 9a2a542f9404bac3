"""MicroPython side of the heap benches (bench_crypto.py, bench_firmware_heap.py
--check): headroom(fn), the smallest free heap fn() runs in.

All free heap but `mid` bytes is taken by ballast blocks (16 KB, then 1 KB,
then 64 B), then fn() runs with the GC working as on the device; a binary
search on `mid` in 256-byte steps. fn() fails by raising MemoryError or by
returning False (anything else, None included, is success)."""
import gc


def headroom(fn, top=256 * 1024, slots=1024):
    lo, hi = 0, top
    while hi - lo > 256:
        mid = (lo + hi) // 2
        gc.collect()
        ballast = [None] * slots
        n = 0
        for size in (16384, 1024, 64):
            while gc.mem_free() - mid > size + 64 and n < slots:
                try:
                    ballast[n] = bytearray(size)
                    n += 1
                except MemoryError:
                    break
        try:
            ok = fn() is not False
        except MemoryError:
            ok = False
        ballast = None
        gc.collect()
        if ok:
            hi = mid
        else:
            lo = mid
    return hi
