# Service wiring for main.py: config, pins, supervisor, the services.
VERSION = "0.1.0"
