"""Helpers of the image-metric tests, imported by name."""
from pathlib import Path

#: real radiographs of the shared data folder (absent on a fresh clone: those tests skip)
SHARED_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"
