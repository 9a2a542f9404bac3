# Firmware image target (frozen builds): the release is a whole MicroPython
# image written to the next OTA app partition; the ESP32 bootloader boots
# it once "pending verify" and rolls back by itself at the next reset unless
# the firmware calls mark_app_valid_cancel_rollback() (the probation).
#
#   next_update() -> partition   (esp32.Partition: get_next_update())
#   mark_valid()                 the running image passed its probation
#   ImageSink(part)              ota/fetch.py sink: erase a block, write chunks at offsets
#
# The unix port simulates the partitions with files, and the bootloader's
# rule with otasim.bootloader() (<flash>/ota/otadata.json):
#   set_boot() -> "new"; a boot of a "new" image -> "pending";
#   a boot while "pending" (never marked valid) -> back to the other image.
from micropython import const

BLOCK = const(4096)
_SIM_SIZE = const(64)  # blocks per simulated partition (256 KiB)


def next_update():
    import sys

    if sys.platform == "esp32":
        import esp32

        return esp32.Partition(esp32.Partition.RUNNING).get_next_update()
    return FilePartition(1 - FilePartition.running())


def mark_valid():
    import sys

    if sys.platform == "esp32":
        import esp32

        esp32.Partition.mark_app_valid_cancel_rollback()
        return
    d = FilePartition.otadata()
    if d.get("state") == "pending":
        d["state"] = "valid"
        FilePartition.save(d)


class FilePartition:
    """esp32.Partition's OTA methods over <flash>/ota/ota_<n>.bin."""

    def __init__(self, index):
        import slotboot

        self.index = index
        self.path = "%s/ota/ota_%d.bin" % (slotboot.flash_dir(), index)

    @staticmethod
    def otadata():
        import otasim

        return otasim.otadata()

    @staticmethod
    def save(d):
        import otasim

        otasim.save_otadata(d)

    @staticmethod
    def running():
        return FilePartition.otadata().get("boot", 0)

    def info(self):
        return (0, 0x10 + self.index, 0x10000 * (1 + self.index), _SIM_SIZE * BLOCK,
                "ota_%d" % self.index, False)

    def ioctl(self, op, arg):
        if op == 4:
            return _SIM_SIZE
        if op == 5:
            return BLOCK
        if op == 6:  # erase block `arg`
            self.writeblocks(arg, b"\xff" * BLOCK, 0)
            return 0
        return None

    def readblocks(self, block, buf, offset=0):
        try:
            with open(self.path, "rb") as f:
                f.seek(block * BLOCK + offset)
                n = f.readinto(buf)
        except OSError:
            n = 0
        for i in range(n, len(buf)):
            buf[i] = 0xFF  # erased flash

    def writeblocks(self, block, buf, offset=None):
        if block < 0 or block * BLOCK + (offset or 0) + len(buf) > _SIM_SIZE * BLOCK:
            raise OSError(28)  # past the partition's end
        try:
            f = open(self.path, "r+b")
        except OSError:
            f = open(self.path, "wb")
        with f:
            f.seek(block * BLOCK + (offset or 0))
            f.write(buf)

    def set_boot(self):
        self.save({"boot": self.index, "state": "new", "prev": 1 - self.index})


class ImageSink:
    """Blob sink into a partition without a block buffer (the heap budget):
    a block is erased when the download reaches it, then each chunk is
    written at its offset (a chunk may span two blocks). held() is what the
    update state saved (sync()); bytes rewritten after a resume are the same
    bytes, which NOR flash takes over themselves."""

    def __init__(self, part, saved=0):
        self.part = part
        self.saved = saved
        self.pos = 0

    def held(self):
        return self.saved

    def read_into(self, offset, buf):
        # whole chunks read back for the resume hash
        mv = memoryview(buf)
        done = 0
        while done < len(buf):
            b, o = divmod(offset + done, BLOCK)
            k = min(BLOCK - o, len(buf) - done)
            self.part.readblocks(b, mv[done:done + k], o)
            done += k
        return done

    def open(self, keep):
        self.pos = keep

    def write(self, data):
        mv = memoryview(data)
        while len(mv):
            b, o = divmod(self.pos, BLOCK)
            if o == 0:
                self.part.ioctl(6, b)  # erase the block the download enters
            k = min(BLOCK - o, len(mv))
            self.part.writeblocks(b, mv[0:k], o)
            self.pos += k
            mv = mv[k:]

    def sync(self):
        """Bytes in the partition: the resume point."""
        return self.pos

    def finish(self):
        pass

    def close(self):
        pass

    def drop(self):
        self.pos = 0
