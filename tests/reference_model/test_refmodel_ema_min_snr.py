"""The two training settings `tiny128` turns on (reference_model/config.py): Min-SNR-gamma loss weights against their
closed form on the schedule written out here, and the EMA of the weights against an average computed here from the
weights after every optimizer step, with the warm-up of diffusers' EMAModel documentation; a resumed run keeps it."""
import numpy as np
import pytest
import torch
from torch import nn

from xgem_bench.reference_model.config import DiffusionConfig, StageHyper
from xgem_bench.reference_model.diffusion import train_scheduler
from xgem_bench.reference_model.fit import fit
from xgem_bench.reference_model.stages import min_snr_weights
from xgem_bench.reference_model.training_data import IndexDataset


def test_min_snr_weights_are_min_snr_gamma_over_snr_on_the_scaled_linear_schedule():
    cfg = DiffusionConfig()
    betas = np.linspace(cfg.beta_start ** 0.5, cfg.beta_end ** 0.5, cfg.num_train_timesteps, dtype=np.float64) ** 2
    abar = np.cumprod(1 - betas)
    snr = abar / (1 - abar)
    t = torch.tensor([0, 10, 100, 300, 500, 999])
    expected = np.minimum(snr[t.numpy()], 5.0) / snr[t.numpy()]
    got = min_snr_weights(train_scheduler(cfg), t, 5.0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)  # the scheduler keeps float32
    assert got[0] < 0.01 and got[-1] == 1.0  # the nearly clean steps count least; the noisiest fully


class _Regression(nn.Module):
    """A linear least-squares objective over fixed data; records the weights after every optimizer step."""

    def __init__(self, crash_at_call: int | None = None):
        super().__init__()
        self.calls, self.crash_at_call = 0, crash_at_call
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(12, 3, generator=generator)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(12, generator=generator)
        self.w = nn.Parameter(torch.zeros(3))
        self.trajectory: list[torch.Tensor] = []

    def forward(self, idx):
        self.calls += 1
        if self.calls == self.crash_at_call:
            raise KeyboardInterrupt("killed")
        return {"loss": ((self.x[idx] @ self.w - self.y[idx]) ** 2).mean()}

    def after_step(self):
        self.trajectory.append(self.w.detach().clone())


def _fit(stage, epochs, out, decay=0.9):
    out.mkdir(exist_ok=True)
    hyper = StageHyper(lr=0.05, batch_size=4, epochs=epochs, weight_decay=0.0, ema_decay=decay)
    return fit(stage, [stage.w], IndexDataset(12), hyper, out, progress=False)


def _ema(trajectory, cap=0.9):
    """EMAModel's average: decay 0 at its first step, then 1 - (1 + step) ** -2/3, capped."""
    shadow = None
    for step, weights in enumerate(trajectory):
        decay = 0.0 if step == 0 else min(1 - (1 + step) ** (-2 / 3), cap)
        shadow = weights if shadow is None else decay * shadow + (1 - decay) * weights
    return shadow


def test_the_saved_weights_are_the_warmed_up_ema_of_the_trajectory(tmp_path):
    stage = _Regression()
    _fit(stage, 3, tmp_path)
    assert len(stage.trajectory) == 9
    torch.testing.assert_close(stage.w.detach(), _ema(stage.trajectory))
    assert not torch.allclose(stage.w.detach(), stage.trajectory[-1])  # not simply the last weights


def test_a_resumed_run_continues_the_average_of_the_killed_one(tmp_path):
    killed = _Regression(crash_at_call=5)  # 3 steps per epoch: killed in epoch 2, after epoch 1's state was saved
    with pytest.raises(KeyboardInterrupt):
        _fit(killed, 3, tmp_path)
    again = _Regression()  # a new process: fresh weights, everything else from the saved state
    _fit(again, 3, tmp_path)
    assert again.calls == 6
    # epoch 1's three steps (saved) then the six of the resumed run: the average spans both, it did not restart
    torch.testing.assert_close(again.w.detach(), _ema(killed.trajectory[:3] + again.trajectory))
    assert not torch.allclose(again.w.detach(), _ema(again.trajectory))
