"""DICOM files written with pydicom, for the data tests (a named module: `from conftest import` breaks when
several test folders are collected together)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dicom(path: Path, stored: np.ndarray, *, bits_stored: int = 12, photometric: str = "MONOCHROME2",
                spacing: tuple[float, float] | None = (0.139, 0.139), spacing_tag: str = "PixelSpacing",
                with_pixels: bool = True, **extra) -> Path:
    """A minimal valid DICOM (explicit VR little endian) holding `stored` as unsigned 16-bit values."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    if spacing is not None:
        setattr(ds, spacing_tag, [f"{spacing[0]:.4f}", f"{spacing[1]:.4f}"])
    for key, value in extra.items():
        setattr(ds, key, value)
    if with_pixels:
        ds.PixelData = np.ascontiguousarray(stored, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
