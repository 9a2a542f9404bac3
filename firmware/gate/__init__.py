# Gate: I/O, occupancy, site rules and the decision pipeline.
