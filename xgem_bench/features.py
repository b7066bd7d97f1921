"""The feature service: one backbone pass per (backbone settings, study, generated output), shared by every metric
that needs those features (fid-xrv, xrv-classification and hamming all read XRV DenseNet `features2`), and kept on
disk between runs.

The runner owns one service per run and hands it to every metric through `MetricContext.features`. A metric asks for
the features of a list of images under keys that name them (model, study, output); the first metric to ask runs the
backbone, in batches of `batch_size` in the order asked (the batches each metric formed before, so the numbers do
not change), and the others read the kept rows. The runner forgets the rows once a batch of studies is scored, so
memory stays at one batch. Backbones are built once per signature (settings, weights, device) and shared too.
`passes` counts the images each backbone ran on, `loaded` those read back from disk, for tests and benchmarks.

**On disk** (`FeatureStore`, when the service has a `cache_dir`; the runner's is `<cache>/features`): every row a
backbone computes is written, atomically, as `<backbone folder>/<image digest[:2]>/<image digest>.npy`. The backbone
folder is named by a hash of its signature (every setting), the sha256 of its weight file in place
(`weights.verify`) and its device (`key.json` beside says which), and the image digest is the sha256 of the image's dtype, shape and bytes. So a
second run over the same generated outputs (and the same real images) with the same backbone runs no forward pass,
and a change of setting, weights, device or image misses. The digest covers the study and its seed: the content is
what the features are of. A backbone without a catalog weight (e.g. one built in a test) is not stored.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any, Hashable, Sequence

import numpy as np

from xgem_bench.atomic import atomic_write_bytes, atomic_write_text


def image_digest(image: np.ndarray) -> str:
    """sha256 of an image's dtype, shape and bytes: the name of its features on disk."""
    array = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.data)
    return digest.hexdigest()


class FeatureStore:
    """One backbone's features on disk, by image digest (see the module docstring)."""

    def __init__(self, root: Path, identity: dict[str, Any]):
        name = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(root) / name
        if not (self.folder / "key.json").is_file():
            atomic_write_text(self.folder / "key.json", json.dumps(identity, sort_keys=True, indent=1))

    @classmethod
    def for_backbone(cls, root: Path, backbone) -> "FeatureStore | None":
        """The store of this backbone configuration; None when it has no catalog weight in place to key on."""
        from xgem_bench import weights
        try:  # the sha256 of the file in place (re-hashed only when its size or time changed; a mismatch raises)
            checksum = weights.verify(backbone.weight)
        except (NotImplementedError, KeyError, weights.WeightsMissing):  # not a catalog weight, or not here
            return None
        return cls(root, {"signature": backbone.signature, "weights_sha256": checksum, "device": str(backbone.device),
                          "channels_last": bool(backbone.channels_last)})

    def _path(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.npy"

    def load(self, digest: str) -> np.ndarray | None:
        path = self._path(digest)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # unreadable: recomputed and rewritten, not trusted
            path.unlink(missing_ok=True)
            return None

    def save(self, digest: str, row: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(row, np.float32))
        atomic_write_bytes(self._path(digest), buffer.getvalue())


class FeatureService:
    def __init__(self, batch_size: int = 16, cache_dir: Path | None = None):
        self.batch_size = max(1, int(batch_size))
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._backbones: dict[tuple, Any] = {}
        self._stores: dict[tuple, FeatureStore | None] = {}
        self._kept: dict[tuple[str, Hashable], np.ndarray] = {}
        #: backbone signature -> images run through it
        self.passes: Counter = Counter()
        #: backbone signature -> images whose features were read from disk instead
        self.loaded: Counter = Counter()

    def shared(self, backbone):
        """The run's one instance of a backbone with this signature (`backbone` itself the first time); building a
        backbone loads nothing, so metrics build theirs and trade it here for the shared one."""
        return self._backbones.setdefault(self._key(backbone), backbone)

    @staticmethod
    def _key(backbone) -> tuple:
        return backbone.signature, backbone.device, backbone.channels_last

    def _store(self, backbone) -> FeatureStore | None:
        if self.cache_dir is None:
            return None
        key = self._key(backbone)
        if key not in self._stores:
            self._stores[key] = FeatureStore.for_backbone(self.cache_dir, backbone)
        return self._stores[key]

    def features(self, backbone, images: Sequence[np.ndarray], keys: Sequence[Hashable] | None = None) -> np.ndarray:
        """float32 (len(images), dim) features of `images`; rows under `keys` (one per image) are computed once
        until `forget()`. Without keys nothing is kept in memory (e.g. the real images of a reference set, read
        once). With a cache folder, rows are read from and written to disk by image content in both cases."""
        if keys is not None and len(keys) != len(images):
            raise ValueError(f"{len(keys)} keys for {len(images)} images")
        signature = backbone.signature
        todo = [i for i in range(len(images)) if keys is None or (signature, keys[i]) not in self._kept]
        computed = {}
        store = self._store(backbone)
        if store is not None:
            digests = {i: image_digest(images[i]) for i in todo}
            for i in todo:
                row = store.load(digests[i])
                if row is not None:
                    computed[i] = row
            self.loaded[signature] += len(computed)
            todo = [i for i in todo if i not in computed]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            rows = backbone.features([images[i] for i in chunk])
            self.passes[signature] += len(chunk)
            computed.update(zip(chunk, rows))
            if store is not None:
                for i, row in zip(chunk, rows):
                    store.save(digests[i], row)
        if keys is not None:
            self._kept.update({(signature, keys[i]): row for i, row in computed.items()})
            return np.stack([self._kept[(signature, key)] for key in keys]) if len(keys) else np.zeros(
                (0, backbone.dim), np.float32)
        return np.stack([computed[i] for i in range(len(images))]) if images else np.zeros((0, backbone.dim),
                                                                                          np.float32)

    def forget(self) -> None:
        """Drop the kept rows (the runner calls it after each scored batch)."""
        self._kept.clear()
