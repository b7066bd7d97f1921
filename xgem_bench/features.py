"""The feature service: one backbone pass per (backbone settings, study, generated output), shared by every metric
that needs those features (fid-xrv, xrv-classification and hamming all read XRV DenseNet `features2`).

The runner owns one service per run and hands it to every metric through `MetricContext.features`. A metric asks for
the features of a list of images under keys that name them (model, study, output); the first metric to ask runs the
backbone, in batches of `batch_size` in the order asked (the batches each metric formed before, so the numbers do
not change), and the others read the kept rows. The runner forgets the rows once a batch of studies is scored, so
memory stays at one batch. Backbones are built once per signature (settings, weights, device) and shared too.
`passes` counts the images each backbone ran on, for tests and benchmarks.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Hashable, Sequence

import numpy as np


class FeatureService:
    def __init__(self, batch_size: int = 16):
        self.batch_size = max(1, int(batch_size))
        self._backbones: dict[tuple, Any] = {}
        self._kept: dict[tuple[str, Hashable], np.ndarray] = {}
        #: backbone signature -> images run through it
        self.passes: Counter = Counter()

    def shared(self, backbone):
        """The run's one instance of a backbone with this signature (`backbone` itself the first time); building a
        backbone loads nothing, so metrics build theirs and trade it here for the shared one."""
        key = (backbone.signature, backbone.device, backbone.channels_last)
        return self._backbones.setdefault(key, backbone)

    def features(self, backbone, images: Sequence[np.ndarray], keys: Sequence[Hashable] | None = None) -> np.ndarray:
        """float32 (len(images), dim) features of `images`; rows under `keys` (one per image) are computed once
        until `forget()`. Without keys nothing is kept (e.g. the real images of a reference set, read once)."""
        if keys is not None and len(keys) != len(images):
            raise ValueError(f"{len(keys)} keys for {len(images)} images")
        signature = backbone.signature
        todo = [i for i in range(len(images)) if keys is None or (signature, keys[i]) not in self._kept]
        computed = {}
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            rows = backbone.features([images[i] for i in chunk])
            self.passes[signature] += len(chunk)
            computed.update(zip(chunk, rows))
        if keys is not None:
            self._kept.update({(signature, keys[i]): row for i, row in computed.items()})
            return np.stack([self._kept[(signature, key)] for key in keys]) if len(keys) else np.zeros(
                (0, backbone.dim), np.float32)
        return np.stack([computed[i] for i in range(len(images))]) if images else np.zeros((0, backbone.dim),
                                                                                          np.float32)

    def forget(self) -> None:
        """Drop the kept rows (the runner calls it after each scored batch)."""
        self._kept.clear()
