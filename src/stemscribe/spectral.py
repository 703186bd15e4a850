"""STFT and friends, shared by training and inference (torch).

Spectrograms are complex ``[..., freq, frames]`` with a periodic Hann window and ``center=True``,
so frame ``i`` is centred on sample ``i * hop``. ``istft(stft(x)) == x`` to float precision.
"""
from __future__ import annotations

import torch

_WINDOWS: dict[tuple[int, str], torch.Tensor] = {}


def _window(n_fft: int, device: torch.device) -> torch.Tensor:
    key = (n_fft, str(device))
    if key not in _WINDOWS:
        _WINDOWS[key] = torch.hann_window(n_fft, periodic=True, device=device)
    return _WINDOWS[key]


def stft(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``x [..., samples]`` -> complex ``[..., n_fft // 2 + 1, samples // hop + 1]``."""
    shape = x.shape
    X = torch.stft(x.reshape(-1, shape[-1]), n_fft, hop, window=_window(n_fft, x.device), center=True,
                   return_complex=True, pad_mode="constant")
    return X.reshape(*shape[:-1], *X.shape[-2:])


def istft(X: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """complex ``[..., freq, frames]`` -> ``[..., length]`` samples."""
    shape = X.shape
    x = torch.istft(X.reshape(-1, *shape[-2:]), n_fft, hop, window=_window(n_fft, X.device), center=True,
                    length=length)
    return x.reshape(*shape[:-2], length)


def n_frames(n_samples: int, hop: int) -> int:
    """Frames ``stft`` gives for a signal of ``n_samples``."""
    return n_samples // hop + 1


def log_magnitude(X: torch.Tensor) -> torch.Tensor:
    """The network's input feature: ``log(1 + 100 |X|)``, elementwise, same shape as ``X``."""
    return torch.log1p(100.0 * X.abs())
