"""GreenGate provisioning: the technician's tool to set up a gate terminal
over its USB serial line (library first; `greengate provision` on top)."""
