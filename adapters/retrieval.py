"""`retrieval`: nearest neighbour in the training split by similarity of the inputs; returns that study's outputs.

Embedding (documented because it defines the baseline):
- images: area-downsampled to 32x32, flattened, centred and L2-normalised (cosine = Pearson correlation of the
  thumbnails), which captures global anatomy and large findings but not fine texture;
- reports: TF-IDF over lower-cased word uni- and bi-grams (sublinear tf), L2-normalised.
The similarity of two studies is the mean cosine over the task's input modalities; ties go to the lower index.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from xgem_bench.adapters.base import AdapterContext, AnyTaskAdapter
from xgem_bench.adapters.shuffled import training_indices
from xgem_bench.tasks import Modality, Task

THUMBNAIL = 32


def image_embedding(image: np.ndarray) -> np.ndarray:
    thumb = Image.fromarray(np.asarray(image, dtype=np.float32), mode="F").resize((THUMBNAIL, THUMBNAIL),
                                                                               Image.Resampling.BOX)
    vector = np.asarray(thumb, dtype=np.float64).ravel()
    vector -= vector.mean()
    norm = np.linalg.norm(vector)
    return vector / norm if norm > 0 else vector


class RetrievalAdapter(AnyTaskAdapter):
    name = "retrieval"
    description = "outputs of the most similar training study (thumbnail / TF-IDF cosine on the inputs)"

    @classmethod
    def default_settings(cls):
        return {"max_train": None}  # cap the training pool (first N training studies) for very large datasets

    def setup(self, context: AdapterContext) -> None:
        self._dataset = context.dataset
        train = training_indices(context)
        if self.settings["max_train"]:
            train = train[: int(self.settings["max_train"])]
        self._train = train
        self._index: dict[Modality, tuple[np.ndarray, np.ndarray]] = {}  # modality -> (positions, embeddings)
        self._vectorizer = None

    def _embeddings(self, modality: Modality):
        if modality not in self._index:
            present = self._train[self._dataset.available(modality)[self._train]]
            values = [self._dataset.load(int(i)).get(modality) for i in present]
            if modality.is_image:
                matrix = np.stack([image_embedding(v) for v in values])
            else:
                from sklearn.feature_extraction.text import TfidfVectorizer
                self._vectorizer = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
                matrix = self._vectorizer.fit_transform(values)
            self._index[modality] = (present, matrix)
        return self._index[modality]

    def _embed_queries(self, modality: Modality, values: list):
        if modality.is_image:
            return np.stack([image_embedding(v) for v in values])
        return self._vectorizer.transform(values)

    def generate(self, studies, task: Task, seeds: Sequence[int]):
        # candidates must have every input (to be compared) and every output (to be returned)
        candidates = self._train
        for modality in set(task.inputs) | set(task.outputs):
            candidates = candidates[self._dataset.available(modality)[candidates]]
        if len(candidates) == 0:
            raise ValueError(f"no training study has all of {[m.value for m in task.modalities]}")
        score = np.zeros((len(studies), len(candidates)))
        for modality in task.inputs:
            positions, matrix = self._embeddings(modality)
            rows = np.searchsorted(positions, candidates)
            similarity = self._embed_queries(modality, [s.get(modality) for s in studies]) @ matrix.T
            similarity = similarity.toarray() if hasattr(similarity, "toarray") else similarity
            score += similarity[:, rows] / len(task.inputs)
        best = candidates[np.argmax(score, axis=1)]
        outputs = []
        for position in best:
            neighbour = self._dataset.load(int(position))
            outputs.append({m: neighbour.get(m) for m in task.outputs})
        return outputs
