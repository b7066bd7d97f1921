import numpy as np

from xgem_bench.cache import GenerationCache, study_seed
from xgem_bench.tasks import Modality


def test_study_seed_is_stable_and_order_free():
    assert study_seed(0, "s1") == study_seed(0, "s1")
    assert study_seed(0, "s1") != study_seed(1, "s1") != study_seed(0, "s2")
    assert 0 <= study_seed(123, "x") < 2**32


def test_round_trip_and_key_separation(tmp_path):
    cache = GenerationCache(tmp_path, "m", {"version": "1", "task": "L->F+T"})
    image = np.random.default_rng(0).random((8, 8), dtype=np.float32)
    cache.save("a/b c", 7, {Modality.FRONTAL: image, Modality.REPORT: "clear lungs"})
    loaded = cache.load("a/b c", 7)
    np.testing.assert_array_equal(loaded[Modality.FRONTAL], image)
    assert loaded[Modality.REPORT] == "clear lungs"
    assert cache.load("a/b c", 8) is None
    assert cache.load("a_b_c", 7) is None  # sanitised names of distinct ids do not collide
    other = GenerationCache(tmp_path, "m", {"version": "2", "task": "L->F+T"})
    assert other.folder != cache.folder and other.load("a/b c", 7) is None


def test_corrupt_entry_is_dropped_not_trusted(tmp_path):
    cache = GenerationCache(tmp_path, "m", {})
    cache.save("s", 1, {Modality.REPORT: "x"})
    cache.path("s", 1).write_bytes(b"PK\x03\x04 truncated")
    assert cache.load("s", 1) is None
    assert not cache.path("s", 1).exists()
