"""Where the repository's non-Python trees live, for host tools and tests."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
