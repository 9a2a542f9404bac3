"""MicroPython side of the heap benches (bench_crypto.py, bench_firmware_heap.py
--check, bench_dcc.py): headroom(fn), the smallest free heap fn() runs in.

All free heap but `mid` bytes is taken by ballast blocks (16 KB, then 1 KB,
then 64 B), then fn() runs with the GC working as on the device; a binary
search on `mid` in 256-byte steps. fn() fails by raising MemoryError or by
returning False (anything else, None included, is success). setup(), if
given, runs before each try's collection and ballast (e.g. to drop modules
fn imports, so each try pays for the import as a device would).

tiny=True adds a last ballast stage of one-block objects (2-tuples: one GC
block on 32 and 64 bits) that fills the holes smaller than a 64-byte block.
Without it those holes count as free heap although no buffer fits in them:
a heap that compiled source modules has thousands of them, and a bare
bytearray(2048) then "needs" ~40 KB (docs/benchmarks.md). With it the free
heap left is mostly one run, and the number is what fn() needs beyond that."""
import gc


def headroom(fn, top=256 * 1024, slots=1024, setup=None, tiny=False):
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
        if tiny:
            n = _fill_holes(ballast, n, slots, mid)
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


def _fill_holes(ballast, n, slots, mid):
    # 2-tuples held in lists of 64 (one slot holds 64 of them); the GC
    # gives each the lowest free block, so the small holes go first
    free = gc.mem_free()
    while n < slots and free > mid + 64:
        try:
            chunk = [None] * 64
        except MemoryError:
            break
        ballast[n] = chunk
        n += 1
        for i in range(64):
            chunk[i] = (i, n)
            if i & 7 == 7:
                free = gc.mem_free()
                if free <= mid + 64:
                    break
        free = gc.mem_free()
    return n
