"""The Fréchet distance between two Gaussians, float64, never complex (see `metrics/fid.py` for the method)."""
from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    try:
        factor = np.linalg.cholesky(sigma1)
    except np.linalg.LinAlgError:  # singular (e.g. fewer samples than dimensions): eigen-decomposition instead
        w, v = np.linalg.eigh(sigma1)
        factor = v * np.sqrt(np.clip(w, 0.0, None))
    inner = factor.T @ sigma2 @ factor
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), float64, never complex."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("statistics contain NaN or infinite values")
    sigma1, sigma2 = (sigma1 + sigma1.T) / 2, (sigma2 + sigma2.T) / 2
    try:
        tr_covmean = _trace_sqrt_product(sigma1, sigma2)
    except np.linalg.LinAlgError:
        offset = np.eye(len(mu1)) * eps
        logger.warning("Fréchet distance: eigen-decomposition failed; adding %g to the covariance diagonals", eps)
        tr_covmean = _trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
