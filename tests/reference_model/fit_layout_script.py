"""Run by test_refmodel_distributed.py, alone or under torchrun: the training loop `fit` on a deterministic stage
(least squares on fixed data, no per-process randomness), saving the final weights and the learning rates seen, so
that one process and two ranks can be compared weight for weight."""
import json
import sys
from pathlib import Path

import torch
from torch import nn

from xgem_bench.reference_model.config import StageHyper
from xgem_bench.reference_model.fit import RunOptions, fit


class LeastSquares(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, batch):
        x, y = batch
        return {"loss": ((self.linear(x) - y) ** 2).mean()}


def main(out_dir: str, grad_accum: int) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(35, 6, generator=generator)  # 35: the last, incomplete batch is dropped
    y = x @ torch.randn(6, 3, generator=generator) + 0.1 * torch.randn(35, 3, generator=generator)
    torch.manual_seed(1)
    stage = LeastSquares()
    hyper = StageHyper(lr=0.05, batch_size=8, epochs=3, weight_decay=0.01, warmup_fraction=0.2, grad_clip=1.0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = fit(stage, list(stage.parameters()), list(zip(x, y)), hyper, out, progress=False,
                  run=RunOptions(grad_accum=grad_accum))
    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return
    torch.save(stage.state_dict(), out / "weights.pt")
    (out / "lrs.json").write_text(json.dumps([row["lr"] for row in history]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
