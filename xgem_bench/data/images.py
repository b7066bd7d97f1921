"""Image decoding and the paper's preprocessing (XGeM section 3.1), as small named steps.

Every reader returns float32 grey (H, W) in [0, 1]. DICOM goes through the paper's pipeline in the paper's order:
`resample_to_spacing` (0.139 mm) -> `invert_monochrome1` -> `divide_by_bit_depth_max` -> `pad_to_square` (centred
zeros) -> `resize_square` (256, area filter when shrinking). The paper does not state the padding position, the
interpolation or which spacing tag it read; we pad centred, shrink with an area (box) filter, enlarge bilinearly, and
read PixelSpacing, else ImagerPixelSpacing (docs/research/xgem-model-spec.md section 10).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xgem_bench.data.study import IMAGE_SIZE

#: The paper's target pixel spacing in mm (the spacing of 95.76 % of MIMIC-CXR).
TARGET_SPACING_MM = 0.139
#: Spacings closer than this to the target are treated as already standard (no resampling).
SPACING_TOLERANCE_MM = 1e-3
DICOM_SUFFIXES = {".dcm", ".dicom"}
TIFF_SUFFIXES = {".tif", ".tiff"}
#: every file suffix `read_image` decodes (folders of images are searched for these)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", *TIFF_SUFFIXES, *DICOM_SUFFIXES}
# ITU-R BT.601 luma weights, the ones PIL uses for RGB -> L (kept in float here instead of rounding to 8 bit).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ImageReadError(ValueError):
    """An image file that cannot be decoded (missing, truncated, not an image, DICOM without pixel data)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        super().__init__(f"cannot read image {self.path}: {reason}")


@dataclass
class DecodedImage:
    """Pixels in [0, 1] as stored (not yet padded or resized), plus the pixel spacing when the file carries one."""

    pixels: np.ndarray
    spacing_mm: tuple[float, float] | None = None


# --- the paper's steps -------------------------------------------------------------------------------------------

def resample_to_spacing(pixels: np.ndarray, spacing_mm: tuple[float, float] | None,
                        target_mm: float = TARGET_SPACING_MM) -> np.ndarray:
    """Resample so that one pixel covers `target_mm` in both directions; unchanged when the spacing is unknown or
    already within SPACING_TOLERANCE_MM of the target."""
    if spacing_mm is None:
        return pixels
    row_mm, col_mm = (float(s) for s in spacing_mm)
    if abs(row_mm - target_mm) <= SPACING_TOLERANCE_MM and abs(col_mm - target_mm) <= SPACING_TOLERANCE_MM:
        return pixels
    height = max(1, round(pixels.shape[0] * row_mm / target_mm))
    width = max(1, round(pixels.shape[1] * col_mm / target_mm))
    return _resize(pixels, height, width)


def invert_monochrome1(pixels: np.ndarray, max_value: float) -> np.ndarray:
    """MONOCHROME1 stores dense tissue dark; flip it so that bone is bright, as in MONOCHROME2."""
    return max_value - pixels


def divide_by_bit_depth_max(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    """Normalise by the largest value the stored bit depth can hold (2**BitsStored - 1), not by the image maximum."""
    return pixels / float(2 ** int(bits_stored) - 1)


def pad_to_square(pixels: np.ndarray) -> np.ndarray:
    """Centred zero padding to a square (no crop, no aspect change)."""
    height, width = pixels.shape
    side = max(height, width)
    if height == width:
        return pixels
    top, left = (side - height) // 2, (side - width) // 2
    out = np.zeros((side, side), dtype=pixels.dtype)
    out[top:top + height, left:left + width] = pixels
    return out


def resize_square(pixels: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Resize a square image to size x size (area filter when shrinking, bilinear when enlarging)."""
    if pixels.shape == (size, size):
        return pixels
    return _resize(pixels, size, size)


def to_model_input(pixels: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """The last two steps, for any [0, 1] image: zero-pad to square, resize; float32, clipped to [0, 1]."""
    out = resize_square(pad_to_square(np.asarray(pixels, dtype=np.float32)), size)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    shrinking = height * width < pixels.shape[0] * pixels.shape[1]
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(image.resize((width, height), resample=resample), dtype=np.float32)


# --- decoders ------------------------------------------------------------------------------------------------------

def read_dicom(path: str | os.PathLike) -> DecodedImage:
    """Stored values -> resampled to 0.139 mm -> MONOCHROME1 inverted -> divided by 2**BitsStored - 1."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError) as error:
        raise ImageReadError(path, f"not a readable DICOM file ({error})") from error
    if "PixelData" not in ds:
        raise ImageReadError(path, "DICOM file has no pixel data")
    _require_decoder(ds, path)
    try:
        raw = np.asarray(ds.pixel_array)
    except Exception as error:  # pydicom raises many types for truncated or undecodable pixel data
        raise ImageReadError(path, f"DICOM pixel data cannot be decoded ({error})") from error
    if raw.ndim != 2:
        raise ImageReadError(path, f"expected one grey frame, got pixel array of shape {raw.shape}")
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8 * raw.dtype.itemsize)))
    pixels = raw.astype(np.float32)
    if int(ds.get("PixelRepresentation", 0)) == 1:  # signed storage: shift to 0 .. 2**bits - 1
        pixels += float(2 ** (bits - 1))
    spacing = dicom_spacing(ds)
    max_value = float(2 ** bits - 1)
    pixels = resample_to_spacing(pixels, spacing)
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        pixels = invert_monochrome1(pixels, max_value)
    pixels = divide_by_bit_depth_max(pixels, bits)
    return DecodedImage(np.clip(pixels, 0.0, 1.0).astype(np.float32), spacing)


def _require_decoder(ds, path) -> None:
    """Compressed pixel data (JPEG lossless, JPEG-LS, JPEG 2000...) needs a decoder package: name the fix."""
    from pydicom.pixels import get_decoder

    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        return
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:  # a transfer syntax pydicom has no decoder for at all
        available = False
    if not available:
        raise ImageReadError(path, f"no decoder is installed for its transfer syntax '{syntax.name}'; install "
                                   "the DICOM codecs: pip install 'xgem-bench[dicom]' (python-gdcm)")


def dicom_spacing(ds) -> tuple[float, float] | None:
    """(row, column) spacing in mm from PixelSpacing, else ImagerPixelSpacing; None when neither is usable."""
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(tag)
        if value is not None and len(value) == 2 and all(float(v) > 0 for v in value):
            return float(value[0]), float(value[1])
    return None


def read_tiff(path: str | os.PathLike) -> DecodedImage:
    """Float TIFFs (XGeM's own format) are clipped to [0, 1]; integer TIFFs are divided by their dtype maximum."""
    import tifffile

    try:
        array = tifffile.imread(path)
    except Exception as error:  # tifffile raises ValueError/TiffFileError/struct.error on damaged files
        raise ImageReadError(path, f"not a readable TIFF ({error})") from error
    return DecodedImage(_to_unit_grey(np.asarray(array), path))


def read_raster(path: str | os.PathLike) -> DecodedImage:
    """PNG (8/16-bit), JPEG and anything else Pillow decodes; colour becomes luma, alpha is dropped."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
                image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
            array = np.asarray(image)
            mode = image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(path, f"not a readable image ({error})") from error
    if mode in ("I", "I;16", "I;16B", "I;16L") and array.max(initial=0) <= 65535:
        array = array.astype(np.uint16)  # 16-bit PNGs come back as 32-bit "I" on some Pillow versions
    return DecodedImage(_to_unit_grey(array, path))


def _to_unit_grey(array: np.ndarray, path) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] in (2, 4):  # grey+alpha or RGBA: drop alpha
        array = array[..., :-1]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if np.issubdtype(array.dtype, np.integer):
        if array.min(initial=0) < 0:
            raise ImageReadError(path, f"signed integer pixels ({array.dtype}) are not supported")
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ImageReadError(path, "image contains NaN or infinite values")
    elif array.dtype == bool:
        array = array.astype(np.float32)
    else:
        raise ImageReadError(path, f"unsupported pixel type {array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array @ _LUMA
    if array.ndim != 2:
        raise ImageReadError(path, f"expected a grey or RGB image, got shape {array.shape}")
    return np.clip(array, 0.0, 1.0).astype(np.float32, copy=False)


def is_dicom(path: str | os.PathLike) -> bool:
    """By suffix, or by the 'DICM' marker at byte 128 for suffix-less files (MIMIC-CXR ships .dcm)."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_image(path: str | os.PathLike) -> DecodedImage:
    """Decode any supported file to [0, 1] grey at its stored size (DICOM: also resampled to 0.139 mm)."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "file is empty")
    if is_dicom(path):
        return read_dicom(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return read_tiff(path)
    return read_raster(path)


def load_image(path: str | os.PathLike, size: int = IMAGE_SIZE) -> np.ndarray:
    """The full pipeline: decode, zero-pad to square, resize to size x size; float32 in [0, 1]."""
    return to_model_input(read_image(path).pixels, size)


def save_png(path: str | os.PathLike, pixels: np.ndarray, bits: int = 16) -> str:
    """Store a [0, 1] image as an 8- or 16-bit grey PNG (16 bit: step 1/65535, finer than 12-bit sources).

    Returns the sha256 of the stored pixel values (not of the file, whose bytes depend on the zlib build), so that
    manifests written on different machines get the same fingerprint."""
    from PIL import Image

    if bits not in (8, 16):
        raise ValueError(f"PNG bit depth must be 8 or 16, not {bits}")
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    values = np.round(np.clip(pixels, 0.0, 1.0) * float(2 ** bits - 1)).astype(dtype)
    Image.fromarray(values).save(path, format="PNG", compress_level=1)
    return _pixel_digest(values, bits)


def png_pixel_digest(path: str | os.PathLike) -> str:
    """The digest `save_png` returned for this file, recomputed from its decoded pixels."""
    from PIL import Image

    with Image.open(path) as image:
        values = np.asarray(image)
    bits = 8 if values.dtype == np.uint8 else 16
    return _pixel_digest(values.astype(np.uint8 if bits == 8 else np.dtype("<u2")), bits)


def _pixel_digest(values: np.ndarray, bits: int) -> str:
    return hashlib.sha256(f"{values.shape}|{bits}|".encode() + values.tobytes()).hexdigest()


def save_png16(path: str | os.PathLike, pixels: np.ndarray) -> str:
    """A [0, 1] image as a 16-bit grey PNG (what MIMIC-CXR preprocessing writes); returns the pixel digest."""
    return save_png(path, pixels, bits=16)
