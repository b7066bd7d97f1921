"""input=upstream: each competitor's own resize + centre crop from the original file, compared with the upstream
libraries' own transforms on the same known image (albumentations for UniXGen, torchvision for LLM-CXR)."""
import numpy as np
import pytest
from PIL import Image

from xgem_bench.adapters.base import StudyFailure
from xgem_bench.adapters.upstream_inputs import llm_cxr_input, source_image, unixgen_input
from xgem_bench.data.study import Study
from xgem_bench.tasks import Modality


@pytest.fixture
def original(tmp_path):
    """A non-square 8-bit grey 'JPG-like' image with structure in x and y (as MIMIC-CXR-JPG: portrait, 8-bit)."""
    y, x = np.mgrid[0:700, 0:561]
    pixels = (127 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + 60 * (x + y) / 1261).astype(np.uint8)
    path = tmp_path / "original.png"
    Image.fromarray(pixels, mode="L").save(path)
    return path


def test_unixgen_crop_equals_albumentations(original):
    albumentations = pytest.importorskip("albumentations")  # the dev extra installs it
    image = np.asarray(Image.open(original))
    upstream = albumentations.Compose([albumentations.SmallestMaxSize(max_size=512),
                                       albumentations.CenterCrop(height=512, width=512)])(image=image)["image"]
    ours = unixgen_input(Image.open(original)) * 255
    assert ours.shape == upstream.shape == (512, 512)
    difference = np.abs(ours - upstream.astype(np.float32))
    # cv2 rounds its bilinear weights to fixed point: at most 1 of 255 levels apart, on ~13% of pixels here
    assert difference.max() <= 1.0 and difference.mean() < 0.2


def test_llm_cxr_crop_equals_torchvision(original):
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF

    img = Image.open(original).convert("RGB")  # encode_cxr_all.py's ImageDataset, step by step
    s = min(img.size)
    r = 256 / s
    s = (round(r * img.size[1]), round(r * img.size[0]))
    img = TF.resize(img, s, interpolation=Image.LANCZOS)
    img = TF.center_crop(img, output_size=2 * [256])
    upstream = T.ToTensor()(img)[0].numpy()
    ours = llm_cxr_input(Image.open(original))
    assert ours.shape == (256, 256)
    np.testing.assert_allclose(ours, upstream, atol=1e-6)


def test_source_image_reads_the_original_or_says_what_is_missing(original):
    study = Study("s1", sources={"frontal": str(original)})
    assert source_image(study, Modality.FRONTAL).size == (561, 700)
    with pytest.raises(StudyFailure, match="lateral_source"):
        source_image(study, Modality.LATERAL)
    broken = Study("s2", sources={"frontal": str(original.with_name("absent.png"))})
    with pytest.raises(StudyFailure, match="unreadable"):
        source_image(broken, Modality.FRONTAL)
