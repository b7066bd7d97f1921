"""A training run killed between epochs and resumed (reference_model/fit.py) must step through the same batches,
in the same order, as one that was never killed, and so end with the same weights: each epoch's shuffle depends on
the epoch's number, not on how many epochs this process has run."""
import pytest
import torch
from torch import nn

from xgem_bench.reference_model.config import StageHyper
from xgem_bench.reference_model.fit import fit
from xgem_bench.reference_model.training_data import IndexDataset


class _Recorder(nn.Module):
    """Fits one scalar to the mean study index of each batch; records the batches it is given."""

    def __init__(self, crash_at_call: int | None = None):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.crash_at_call, self.batches = crash_at_call, []

    def forward(self, idx):
        if len(self.batches) + 1 == self.crash_at_call:
            raise KeyboardInterrupt("killed")
        self.batches.append(idx.tolist())
        return {"loss": (self.w - idx.float().mean()) ** 2}


def _fit(stage, out):
    out.mkdir(exist_ok=True)
    return fit(stage, [stage.w], IndexDataset(12), StageHyper(lr=0.1, batch_size=4, epochs=3, weight_decay=0.0),
               out, progress=False)


def test_a_resumed_run_draws_the_batches_of_an_uninterrupted_one(tmp_path):
    whole = _Recorder()
    _fit(whole, tmp_path / "whole")
    assert len(whole.batches) == 9
    epochs = [sorted(sum(whole.batches[k:k + 3], [])) for k in (0, 3, 6)]
    assert epochs == [list(range(12))] * 3  # every study once per epoch
    assert whole.batches[:3] != whole.batches[3:6]  # a new permutation each epoch

    killed = _Recorder(crash_at_call=5)  # 3 batches per epoch: killed in epoch 2, after epoch 1's state was saved
    with pytest.raises(KeyboardInterrupt):
        _fit(killed, tmp_path / "killed")
    resumed = _Recorder()  # a new process: fresh weights and loader, everything else from the saved state
    _fit(resumed, tmp_path / "killed")
    assert resumed.batches == whole.batches[3:]
    torch.testing.assert_close(resumed.w.detach(), whole.w.detach(), rtol=0, atol=0)
