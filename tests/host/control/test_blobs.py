"""Host blob helpers: references, chunk messages, fetch requests."""

import os

import cbor2

from greengate.control import blobs


def test_host_fetch_answers():
    data = os.urandom(5000)
    ref = blobs.blob_ref(data)
    req = blobs.parse_fetch(cbor2.dumps({1: ref[1], 2: 3, 3: 4}))
    msgs = blobs.answer_fetch(req, data)
    assert [cbor2.loads(m)[2] for m in msgs] == [3, 4, 5, 6]
    assert all(len(m) <= 800 for m in msgs)
    assert b"".join(cbor2.loads(blobs.chunk_message(data, i))[4] for i in range(7)) == data
    for bad in (b"\xff", cbor2.dumps([1]), cbor2.dumps({1: b"x", 2: 0}), cbor2.dumps({1: ref[1], 2: -1}),
                cbor2.dumps({1: ref[1], 2: 0, 3: 99})):
        try:
            blobs.parse_fetch(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")

