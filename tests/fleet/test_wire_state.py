"""Device state (protocol 4.2) key 12, the last control error: a gate's report
sets it, the gate's own "no error any more" (12: null) clears it, and the
Last Will ({1: false}, no key 12) leaves it as it was."""

import cbor2
import pytest

from fleet.broker_bridge import wire
from fleet.models import Device
from fleet.services import devices
from fleet_helpers import dev_id, seed_registry

G = dev_id(0xE1)


def test_decode_state_key_12():
    assert wire.decode_state(cbor2.dumps({1: True, 12: [0, 29, 0]}))["last_control_error"] == [0, 29, 0]
    assert wire.decode_state(cbor2.dumps({1: True, 12: None}))["last_control_error"] is None
    assert "last_control_error" not in wire.decode_state(cbor2.dumps({1: False}))
    # malformed: refused with a reason code (the bridge dead-letters it), never a crash
    for bad in ([0, 29], ["x", 29, 0], "oops", 7, [0, 29, 2**40]):
        with pytest.raises(wire.WireError) as e:
            wire.decode_state(cbor2.dumps({1: True, 12: bad}))
        assert e.value.code == "BAD_STATE"
    with pytest.raises(wire.WireError):
        wire.decode_state(cbor2.dumps({12: [0, 29, 0]}))  # no online flag


def test_a_resolved_error_is_cleared(session_factory):
    with session_factory() as db:
        seed_registry(db, (G,))
        devices.apply_state(db, G, wire.decode_state(cbor2.dumps({1: True, 12: [0, 29, 0]})))
        assert db.get(Device, G).last_control_error == [0, 29, 0]
        devices.apply_state(db, G, wire.decode_state(cbor2.dumps({1: False})))  # Last Will
        assert db.get(Device, G).last_control_error == [0, 29, 0]
        devices.apply_state(db, G, wire.decode_state(cbor2.dumps({1: True, 12: None})))
        assert db.get(Device, G).last_control_error is None
