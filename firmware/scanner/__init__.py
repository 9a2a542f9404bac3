# Serial QR scanner (GM65 / GM805 / GM812 family). Protocol in gm65.py and
# framer.py (pure, fed bytes), serial I/O in link.py / reader.py, boot-time
# configuration in setup.py. See docs/scanner.md.
