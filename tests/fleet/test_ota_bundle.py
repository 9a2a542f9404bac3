"""The provisioning bundle carries the release public keys (key 7,
docs/provisioning.md) when the fleet has them configured, never the
fleet's own key; without them the bundle has no key 7 (the gate keeps its own)."""

from __future__ import annotations

import base64

import cbor2

from fleet_helpers import dev_id, register, registration
from ota_helpers import RELEASE_PUB


def bundle_body(out: dict) -> dict:
    return cbor2.loads(cbor2.loads(base64.b64decode(out["bundle"])).value[2])[6]


def test_bundle_has_the_release_keys(api, settings):
    assert 7 not in bundle_body(register(api, "operator", dev_id(1)))
    settings.release_public_keys = [RELEASE_PUB.hex()]
    out = register(api, "operator", dev_id(2))
    assert list(bundle_body(out)[7]) == [RELEASE_PUB]
    settings.release_public_keys = [RELEASE_PUB.hex(), out["fleet_public_key"]]
    h = api.headers("operator")
    r = api.client.post("/api/v1/devices/register", json=registration(api.client, h, dev_id(3)), headers=h)
    assert r.status_code == 500 and r.json()["title"] == "RELEASE_KEY_IS_FLEET_KEY"
