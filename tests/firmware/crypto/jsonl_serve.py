"""The loop of the JSON-lines test drivers (driver.py, fe_driver.py, p256_driver.py,
rsa_driver.py); runs under MicroPython AND CPython.

serve(handle): one request per stdin line, handle(request dict) -> answer
dict, one answer per stdout line; any exception becomes {"err": "..."} so
the host sees it.
"""

import json
import sys


def serve(handle):
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        try:
            out = handle(json.loads(line))
        except Exception as e:
            out = {"err": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out) + "\n")
