"""app.codequeue under MicroPython: bounded, keeps order, drops the newest when full."""

from __future__ import annotations

import json

from mpy import run_micropython

SCRIPT = """
import asyncio, json
from app.codequeue import CodeQueue

async def main():
    q = CodeQueue(4)
    accepted = [q.put("c%d" % i) for i in range(6)]
    got = []
    for _ in range(4):  # (no await inside comprehensions in MicroPython)
        got.append(await q.get())
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep_ms(20)
    early = waiter.done()
    q.put("late")
    late = await waiter
    print(json.dumps({"accepted": accepted, "got": got, "dropped": q.dropped,
                      "early": early, "late": late}))

asyncio.run(main())
"""


def test_queue_order_overflow_and_wakeup():
    res = run_micropython(SCRIPT)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["accepted"] == [True, True, True, True, False, False]
    assert out["got"] == ["c0", "c1", "c2", "c3"]  # the waiting codes keep their order
    assert out["dropped"] == 2  # the two newest were refused and counted
    assert out["early"] is False and out["late"] == "late"  # get() waits for a code
