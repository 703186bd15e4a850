"""Oracle separation baselines computed from the true stems: upper bounds for mask-based models.

Both masks are applied to the mixture's STFT (``torch.stft``, Hann window) and inverted with
``torch.istft``; the mixture is the sum of the given sources, as in the evaluation protocol.

- Ideal ratio mask (IRM): ``M_i = |S_i|^p / sum_j |S_j|^p`` with ``p = 1`` (magnitude ratio,
  open-unmix's "IRM1"); the masks sum to one, so the estimates sum to the mixture.
- Ideal binary mask (IBM): ``M_i = 1`` where source ``i`` has the largest magnitude of all
  sources in the bin, else 0 (winner takes all); also sums to the mixture.

A model that masks a spectrogram with the same resolution cannot beat the IRM in expectation;
the defaults (1024-point window, hop 256 at 16 kHz: 64 ms / 16 ms) are a common separation
front end.
"""
from __future__ import annotations

import numpy as np

ORACLE_N_FFT = 1024
ORACLE_HOP = 256


def _validate(sources: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    s = np.asarray(sources, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] < 1:
        raise ValueError(f"sources must be [sources, samples], got shape {s.shape}")
    if n_fft < 16 or hop < 1 or hop > n_fft:
        raise ValueError(f"need n_fft >= 16 and 1 <= hop <= n_fft, got n_fft={n_fft}, hop={hop}")
    if s.shape[1] < n_fft:
        raise ValueError(f"sources of {s.shape[1]} samples are shorter than the {n_fft}-sample window")
    if not np.isfinite(s).all():
        raise ValueError("sources contain NaN or infinite samples")
    return s


def _masked(sources: np.ndarray, n_fft: int, hop: int, kind: str, power: float = 1.0) -> np.ndarray:
    import torch

    s = torch.from_numpy(np.ascontiguousarray(sources))           # [n, T]
    window = torch.hann_window(n_fft)
    spec = torch.stft(s, n_fft, hop, window=window, return_complex=True)  # [n, F, frames]
    mix = spec.sum(0)                                               # [F, frames]
    mag = spec.abs()
    if kind == "irm":
        num = mag.pow(power)
        mask = num / num.sum(0).clamp_min(torch.finfo(num.dtype).tiny)
    else:
        winner = mag.argmax(0)                                      # [F, frames]
        mask = torch.nn.functional.one_hot(winner, s.shape[0]).permute(2, 0, 1).to(mag.dtype)
    est = torch.istft(mask * mix, n_fft, hop, window=window, length=s.shape[1])  # [n, T]
    return est.numpy().astype(np.float32)


def ideal_ratio_mask(sources: np.ndarray, n_fft: int = ORACLE_N_FFT, hop: int = ORACLE_HOP,
                     power: float = 1.0) -> np.ndarray:
    """IRM estimates ``[sources, samples]`` of each source from the mixture ``sources.sum(0)``.

    sources: mono true sources ``[sources, samples]``. power: ``p`` of ``|S|^p`` (1 = magnitude
    ratio, 2 = Wiener-like power ratio). Bins where every source is silent get a zero mask.
    """
    s = _validate(sources, n_fft, hop)
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    return _masked(s, n_fft, hop, "irm", power)


def ideal_binary_mask(sources: np.ndarray, n_fft: int = ORACLE_N_FFT, hop: int = ORACLE_HOP) -> np.ndarray:
    """IBM estimates ``[sources, samples]``: each bin goes whole to its loudest source."""
    return _masked(_validate(sources, n_fft, hop), n_fft, hop, "ibm")
