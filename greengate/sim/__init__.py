"""Host-side simulator of a GreenGate terminal (`greengate sim`)."""
