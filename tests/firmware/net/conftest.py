import sys
from pathlib import Path

# net_helpers.py and the MicroPython drivers live next to the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))
