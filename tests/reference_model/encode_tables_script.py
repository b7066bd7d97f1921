"""Run by test_refmodel_distributed.py under torchrun (and called in its own process): `encode_tables` on the toy studies with the encoders
of a checkpoint folder, counting how many studies this process's encoders saw; writes `counts<rank>.json` and, on
rank 0, the gathered tables (`tables.npz`). A second call in the same folder must find the tables complete."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from refmodel_fixtures import toy_studies
from xgem_bench.data.dataset import InMemoryDataset
from xgem_bench.distributed import init_accelerate, shutdown
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.prompt_encoder import PromptEncoder
from xgem_bench.reference_model.stage_training import encode_tables
from xgem_bench.reference_model.training_data import usable_studies

TARGETS = ["frontal", "report"]


def counting(owner, name, counts, patch):
    original = getattr(owner, name)

    def wrapper(self, values, *args, **kwargs):
        counts[name] = counts.get(name, 0) + len(values)
        return original(self, values, *args, **kwargs)
    patch(owner, name, wrapper)


def main(root: str, out_dir: str, patch=setattr) -> None:
    """`patch(owner, name, value)` installs the counting encoders (a test passes monkeypatch.setattr)."""
    torch.set_num_threads(1)
    counts: dict[str, int] = {}
    for owner, name in ((PromptEncoder, "encode_texts"), (PromptEncoder, "encode_images"),
                        (xm.XGeM, "report_mu"), (xm.XGeM, "image_posterior")):
        counting(owner, name, counts, patch)
    rank = init_accelerate().process_index
    config = xm.load_config(root)
    data = usable_studies(InMemoryDataset(toy_studies(), name="toy", synthetic=True), "train", config, TARGETS,
                          need_prompt=True)
    out = Path(out_dir)
    tables, null = encode_tables(Path(root), config, data, TARGETS, out / "_tables")
    first = dict(counts)
    encode_tables(Path(root), config, data, TARGETS, out / "_tables")  # complete: reused, nothing encoded
    (out / f"counts{rank}.json").write_text(json.dumps({"first": first, "again": {k: counts[k] - first.get(k, 0)
                                                                                   for k in counts}, "n": len(data)}))
    if rank == 0:
        np.savez(out / "tables.npz", null=null.numpy(), **{k: v.numpy() for k, v in tables.tables.items()})
    shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
