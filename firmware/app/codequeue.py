# Bounded queue of scanned codes between the scanner and the decision task.
# Pre-allocated slots; overflow rule: when full, the NEWEST code is dropped
# and counted (`dropped`). The person at the gate sees no result and shows
# the code again; codes already waiting keep their order.
import asyncio


class CodeQueue:
    def __init__(self, size=8):
        self.slots = [None] * size
        self.size = size
        self.head = 0
        self.count = 0
        self.dropped = 0
        self.event = asyncio.Event()

    def put(self, code):
        if self.count >= self.size:
            self.dropped += 1
            return False
        self.slots[(self.head + self.count) % self.size] = code
        self.count += 1
        self.event.set()
        return True

    async def wait(self):
        """Until a code is queued (take() then returns it)."""
        while self.count == 0:
            self.event.clear()
            await self.event.wait()

    def take(self):
        """The oldest code (None: input the scanner rejected); only after
        wait(). Not a coroutine: a code returned through the asyncio
        machinery stayed reachable from stale stack slots while it was
        decided (a DCC text: up to ~1.2 KB, docs/memory.md)."""
        code = self.slots[self.head]
        self.slots[self.head] = None
        self.head = (self.head + 1) % self.size
        self.count -= 1
        return code

    async def get(self):
        await self.wait()
        return self.take()
