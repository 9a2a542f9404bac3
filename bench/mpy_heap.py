"""MicroPython side of the heap benches (bench_crypto.py, bench_firmware_heap.py
--check, bench_dcc.py, tests/firmware/verify/dcc_heap_driver.py): headroom(fn),
the smallest free heap fn() runs in.

All free heap but `mid` bytes is taken by ballast blocks (16 KB, then 1 KB,
then 64 B), then fn() runs with the GC working as on the device; a binary
search on `mid` in 256-byte steps. fn() fails by raising MemoryError or by
returning False (anything else, None included, is success). setup(), if
given, runs before each try's collection and ballast (e.g. to drop the
modules fn imports, so each try pays for the imports as the gate does).

Holes smaller than the 64-byte ballast still count as free heap although no
buffer fits in them: measure frozen firmware (no compile garbage). Modules
compiled from source leave thousands of them, and a bare bytearray(2048)
then "needs" 28-45 KB (docs/benchmarks.md, EU DCC)."""
import gc


def headroom(fn, top=256 * 1024, slots=1024, setup=None):
    lo, hi = 0, top
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if setup is not None:
            setup()
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
