"""GreenGate host tools: pass issuing and checking, simulator, demo glue."""

__version__ = "0.1.0"
