"""Fixtures for the data tests: the DICOM writer (dicom_fixtures.py) and the shared real images."""
from __future__ import annotations

from pathlib import Path

import pytest

from dicom_fixtures import write_dicom

SHARED_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"


@pytest.fixture
def dicom_writer():
    return write_dicom


@pytest.fixture
def shared_images() -> Path:
    if not (SHARED_IMAGES / "manifest.csv").is_file():
        pytest.skip(f"shared images not present at {SHARED_IMAGES}")
    return SHARED_IMAGES
