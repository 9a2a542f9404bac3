import sys
from pathlib import Path

# demo_helpers.py (shared by the demo tests) imports as a top-level module
sys.path.insert(0, str(Path(__file__).resolve().parent))
