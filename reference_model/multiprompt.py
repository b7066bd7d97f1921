"""Multi-Prompt Training (paper §2.2): each sample is conditioned on a random non-empty subset of its available
prompt modalities, drawn uniformly over subsets, combined by interpolation with weights summing to 1.

With `multi_prompt=False` every sample gets exactly one prompt modality (uniform over the available ones): the
CoDi-XR ablation of the paper, which never sees mixtures during training.
"""
from __future__ import annotations

import itertools

import torch

WEIGHTINGS = ("uniform", "dirichlet")


def prompt_weights(available: torch.Tensor, multi_prompt: bool = True, weighting: str = "uniform",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """[B, n] availability mask -> [B, n] interpolation weights (rows sum to 1; zeros off the drawn subset)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown prompt weighting {weighting!r}; use one of {WEIGHTINGS}")
    available = available.bool()
    if not available.any(dim=1).all():
        raise ValueError("every sample needs at least one available prompt modality")
    n = available.shape[1]
    size_range = range(1, n + 1) if multi_prompt else (1,)
    subsets = torch.tensor([[i in s for i in range(n)] for k in size_range
                            for s in itertools.combinations(range(n), k)])  # [S, n]
    weights = torch.zeros(available.shape)
    for row, mask in enumerate(available):
        allowed = subsets[(subsets & ~mask).sum(dim=1) == 0]  # subsets within what this sample has
        chosen = allowed[torch.randint(len(allowed), (1,), generator=generator).item()]
        if weighting == "dirichlet":
            # Dirichlet(1, ..., 1) = normalised Exponential(1) draws
            draw = -torch.rand(int(chosen.sum()), generator=generator).clamp_min(1e-12).log()
            weights[row, chosen] = draw / draw.sum()
        else:
            weights[row, chosen] = 1.0 / chosen.sum()
    return weights


def mix(embeddings: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """[B, n, D] prompt embeddings, [B, n] weights -> [B, D] conditioning vector (spec §6: no re-normalisation)."""
    return torch.einsum("bnd,bn->bd", embeddings, weights.to(embeddings))


def drop_conditions(cond: torch.Tensor, null: torch.Tensor, p: float,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Classifier-free guidance training: each row replaced by its unconditional counterpart with probability p."""
    drop = torch.rand(len(cond), generator=generator) < p
    return torch.where(drop.to(cond.device).unsqueeze(1), null, cond)
