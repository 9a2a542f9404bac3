"""Fleet -> device signed control plane (host side) and the revocation store
builder. Wire formats: docs/protocol.md."""
