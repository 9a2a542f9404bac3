"""GreenGate fleet service: registry, passes, revocations, the F0 workflow,
the broker bridge and the JSON API (docs/fleet.md)."""
