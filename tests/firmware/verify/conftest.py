import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
for p in (str(REPO), str(REPO / "tests" / "host" / "passes")):
    if p not in sys.path:
        sys.path.insert(0, p)
