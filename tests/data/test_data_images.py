"""Image decoding and the paper's preprocessing steps, checked against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from xgem_bench.data import images
from xgem_bench.data.images import ImageReadError, load_image, read_image


def test_png_8_and_16_bit_exact(tmp_path):
    ramp8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(ramp8).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png").pixels, ramp8 / np.float32(255))
    ramp16 = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000 + 7).astype(np.uint16)
    Image.fromarray(ramp16).save(tmp_path / "b.png")
    assert np.allclose(read_image(tmp_path / "b.png").pixels, ramp16 / 65535.0, atol=1e-7)


@pytest.mark.parametrize("bits", [8, 16])
def test_png_roundtrip_of_writer(tmp_path, bits):
    x = np.random.default_rng(0).random((30, 40), dtype=np.float32)
    digest = images.save_png(tmp_path / "x.png", x, bits=bits)
    assert np.abs(read_image(tmp_path / "x.png").pixels - x).max() <= 0.5 / (2 ** bits - 1) + 1e-6
    assert images.png_pixel_digest(tmp_path / "x.png") == digest
    Image.open(tmp_path / "x.png").save(tmp_path / "y.png", compress_level=9)  # other bytes, same pixels
    assert images.png_pixel_digest(tmp_path / "y.png") == digest


def test_rgb_and_rgba_become_luma_and_alpha_is_dropped(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> 0.299
    Image.fromarray(rgb).save(tmp_path / "red.png")
    assert np.allclose(read_image(tmp_path / "red.png").pixels, 0.299, atol=1e-6)
    rgba = np.dstack([np.full((4, 4, 3), 200, np.uint8), np.zeros((4, 4), np.uint8)])  # fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    assert np.allclose(read_image(tmp_path / "rgba.png").pixels, 200 / 255, atol=1e-6)


def test_jpeg(tmp_path):
    grey = np.full((32, 48), 128, np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.jpg", quality=95)
    decoded = read_image(tmp_path / "g.jpg").pixels
    assert decoded.shape == (32, 48) and abs(decoded.mean() - 128 / 255) < 2 / 255


def test_float_tiff_is_clipped_and_integer_tiff_scaled(tmp_path):
    import tifffile

    x = np.array([[-0.1, 0.5], [1.03, 0.25]])
    tifffile.imwrite(tmp_path / "f.tiff", x)
    assert np.allclose(read_image(tmp_path / "f.tiff").pixels, [[0, 0.5], [1, 0.25]])
    tifffile.imwrite(tmp_path / "i.tif", np.array([[0, 65535]], np.uint16))
    assert np.allclose(read_image(tmp_path / "i.tif").pixels, [[0, 1]])


def test_pad_to_square_is_centred_zero_padding():
    x = np.ones((2, 6), np.float32)
    padded = images.pad_to_square(x)
    assert padded.shape == (6, 6)
    assert padded[:2].sum() == 0 and padded[4:].sum() == 0 and padded[2:4].min() == 1


def test_resize_shrinks_with_area_filter():
    x = np.zeros((512, 512), np.float32)
    x[::2] = 1.0  # alternate rows: an area filter gives exactly 0.5, nearest/bilinear would alias
    assert np.allclose(images.resize_square(x, 256), 0.5, atol=1e-6)


def test_dicom_monochrome1_12bit_nonsquare_standard_spacing(tmp_path, dicom_writer):
    stored = np.full((60, 40), 1000, np.uint16)
    stored[0, 0] = 4095
    path = dicom_writer(tmp_path / "m1.dcm", stored, bits_stored=12, photometric="MONOCHROME1")
    decoded = read_image(path)
    assert decoded.pixels.shape == (60, 40)  # spacing already 0.139: no resampling
    assert decoded.spacing_mm == (0.139, 0.139)
    assert np.isclose(decoded.pixels[1, 1], (4095 - 1000) / 4095, atol=1e-6)  # inverted, / (2**12 - 1)
    assert decoded.pixels[0, 0] == 0.0
    full = load_image(path)
    assert full.shape == (256, 256) and full.dtype == np.float32
    # centred padding: 40 of 60 columns are image, so the outer 10/60 of the width on each side is zero
    assert full[:, :40].max() == 0 and full[:, -40:].max() == 0
    assert np.isclose(full[128, 128], (4095 - 1000) / 4095, atol=1e-5)


def test_dicom_nonstandard_spacing_is_resampled_and_imager_spacing_used(tmp_path, dicom_writer):
    stored = np.full((50, 30), 2048, np.uint16)
    path = dicom_writer(tmp_path / "s.dcm", stored, spacing=(0.278, 0.139), spacing_tag="ImagerPixelSpacing")
    decoded = read_image(path)
    assert decoded.spacing_mm == (0.278, 0.139)
    assert decoded.pixels.shape == (100, 30)  # rows doubled, columns unchanged
    assert np.allclose(decoded.pixels, 2048 / 4095, atol=1e-6)  # MONOCHROME2: no inversion


def test_dicom_without_pixel_data(tmp_path, dicom_writer):
    path = dicom_writer(tmp_path / "nopix.dcm", np.zeros((4, 4), np.uint16), with_pixels=False)
    with pytest.raises(ImageReadError, match="nopix.dcm.*no pixel data"):
        read_image(path)


def test_truncated_dicom(tmp_path, dicom_writer):
    path = dicom_writer(tmp_path / "cut.dcm", np.zeros((64, 64), np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(ImageReadError, match="cut.dcm"):
        read_image(path)


@pytest.mark.parametrize("name,content", [("empty.png", b""), ("junk.png", b"not an image at all" * 10),
                                          ("junk.dcm", b"\0" * 200), ("junk.tiff", b"II*\0garbage")])
def test_unreadable_files(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match=name):
        read_image(tmp_path / name)


def test_truncated_png_and_missing_file(tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="t.png"):
        read_image(tmp_path / "t.png")
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "absent.png")


def test_real_shared_images(shared_images):
    """Every real/synthetic file in the shared folder (JPEG RGB, RGBA PNG, 8-bit PNG, float TIFF) loads to 256x256."""
    files = sorted(p for p in shared_images.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".tiff"})
    assert len(files) >= 18
    for path in files:
        x = load_image(path)
        assert x.shape == (256, 256) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05, path
    tiff = read_image(shared_images / "xgem_synthetic" / "Frontal.tiff").pixels
    png = read_image(shared_images / "xgem_synthetic" / "Frontal.png").pixels
    assert np.abs(tiff - png).max() <= 0.5 / 255 + 1e-6  # the PNG is clip(tiff)*255 quantised


def _jpeg2000_dicom(path, stored, dicom_writer, codestream: bytes | None = None):
    import io

    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    if codestream is None:
        buffer = io.BytesIO()
        Image.fromarray(stored).save(buffer, format="JPEG2000", irreversible=False, no_jp2=True)
        codestream = buffer.getvalue()
    ds = pydicom.dcmread(dicom_writer(path, stored))
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.save_as(path, enforce_file_format=True)
    return path


def test_jpeg2000_compressed_dicom(tmp_path, dicom_writer):
    stored = (np.arange(64 * 48).reshape(64, 48) % 4096).astype(np.uint16)
    path = _jpeg2000_dicom(tmp_path / "j2k.dcm", stored, dicom_writer)
    assert np.allclose(read_image(path).pixels, stored / 4095.0, atol=1e-6)  # lossless, 12-bit
    broken = _jpeg2000_dicom(tmp_path / "broken.dcm", stored, dicom_writer, codestream=b"\xff\x4f\xff\x51junk")
    with pytest.raises(ImageReadError, match="broken.dcm.*cannot be decoded"):
        read_image(broken)
