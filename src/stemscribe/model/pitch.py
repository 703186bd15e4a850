"""The pitch branch of architecture "crnn-v2": harmonic stacking on a log-frequency spectrum.

Why: crnn-v1 compresses each linear-frequency frame with one dense layer, so every pitch of
every class is a separate pattern to learn, and after 9,000 CPU steps its pitched piano rolls
were still diffuse (docs/MODEL_CARD.md). Here the evidence for "a note at key k" is computed by
convolutions that share their weights across keys: the mixture's log spectrum is resampled to
``bins_per_semitone`` bins per semitone, and copies of it shifted by the log-frequency distance
of each harmonic ``h`` (``12 * log2(h)`` semitones) are stacked as channels, so that at key k
channel h holds the energy at ``h * f0(k)`` (the harmonic stacking of basic-pitch, Bittner et al.
2022). A few small 2-D convolutions over (time, log frequency) then give ``channels`` features
per key and frame, ``[B, T, 88, channels]``, which the network turns into per-class piano rolls
using its shared (BLSTM) state to say which instrument plays (see network.py).

The low keys' fundamentals are not resolved by a 1024-point STFT at 16 kHz (15.6 Hz bins against
1.6 Hz between A0 and A#0); their upper harmonics are, which is what the stacking uses.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..classes import MIN_PITCH, N_KEYS
from ..notes import midi_to_hz


def log_frequency_matrix(sample_rate: int, n_fft: int, lowest_midi: float, n_bins: int,
                         bins_per_semitone: int) -> np.ndarray:
    """``[n_bins, n_fft // 2 + 1]`` weights that resample a linear-frequency spectrum frame onto
    log-spaced bins centred on MIDI ``lowest_midi + i / bins_per_semitone``.

    Each row is a triangle from the previous bin's centre to the next one's, widened to at least
    one STFT bin either side (where log bins are narrower than STFT bins it interpolates), and
    normalised to sum to 1. Rows above Nyquist are zero.
    """
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    df = sample_rate / n_fft
    centres = midi_to_hz(lowest_midi + np.arange(-1, n_bins + 1) / bins_per_semitone)
    W = np.zeros((n_bins, len(freqs)), dtype=np.float32)
    for i in range(n_bins):
        lo, c, hi = centres[i], centres[i + 1], centres[i + 2]
        if c >= sample_rate / 2:
            continue
        left, right = max(c - lo, df), max(hi - c, df)
        w = np.clip(np.minimum((freqs - (c - left)) / left, ((c + right) - freqs) / right), 0.0, None)
        W[i] = w / w.sum()
    return W


class HarmonicPitchFront(nn.Module):
    """log-magnitude ``[B, F, T]`` -> per-key features ``[B, T, 88, channels]``.

    harmonics: multiples of f0 stacked as input channels (0.5 is the sub-octave, which tells
        a note from its own second harmonic).
    """

    def __init__(self, sample_rate: int, n_fft: int, bins_per_semitone: int = 3,
                 harmonics: tuple[float, ...] = (0.5, 1, 2, 3, 4, 5, 6, 7), channels: int = 16,
                 context_keys: int = 13):
        super().__init__()
        bps = int(bins_per_semitone)
        if bps < 1 or bps % 2 == 0:
            raise ValueError(f"bins_per_semitone must be odd and >= 1 (so each key has a centre bin), got {bps}")
        shifts = [round(12 * math.log2(h) * bps) for h in harmonics]
        self.n_key_bins = N_KEYS * bps
        # The log spectrum spans the lowest harmonic of the lowest key to the highest of the highest.
        # Key k's centre bin is bin k*bps + bps//2 of the key region, so the region starts half a key low.
        lowest = MIN_PITCH - (bps // 2) / bps + min(shifts) / bps
        n_bins = self.n_key_bins + max(shifts) - min(shifts)
        self.offsets = [s - min(shifts) for s in shifts]
        self.register_buffer("logf", torch.from_numpy(log_frequency_matrix(sample_rate, n_fft, lowest, n_bins, bps)),
                             persistent=False)
        H, Cp = len(harmonics), channels
        self.conv1 = nn.Conv2d(H, Cp, (3, 3), padding=(1, 1))
        # Dilated by a semitone in frequency: compares a bin with its neighbouring keys.
        self.conv2 = nn.Conv2d(Cp, Cp, (3, 3), padding=(1, bps), dilation=(1, bps))
        self.to_keys = nn.Conv2d(Cp, Cp, (1, bps), stride=(1, bps))   # bins -> keys
        # Across about an octave of keys: lets a key see the notes an octave and a fifth away
        # (its own harmonics' keys), the usual source of octave errors.
        self.conv3 = nn.Conv2d(Cp, Cp, (3, context_keys), padding=(1, context_keys // 2))
        self.act = nn.GELU()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.shape[0] > 1 and not torch.is_grad_enabled():
            # Inference: one chunk at a time, so only one chunk's [Cp, T, 264] activations are alive
            # (about 250 MB less at the peak of a 10-minute song, batch_chunks=4); same numbers.
            return torch.cat([self(f.unsqueeze(0)) for f in features])
        L = torch.matmul(self.logf, features)                               # [B, n_log, T]
        # Log-magnitudes are about 0-8; a fixed scale keeps the first conv in a sane range.
        x = torch.stack([L[:, o:o + self.n_key_bins] for o in self.offsets], dim=1) * 0.25  # [B, H, K*bps, T]
        x = x.transpose(2, 3)                                               # [B, H, T, K*bps]
        x = self.act(self.conv1(x))
        x = x + self.act(self.conv2(x))
        x = self.act(self.to_keys(x))                                       # [B, Cp, T, 88]
        x = x + self.act(self.conv3(x))
        return x.permute(0, 2, 3, 1)                                        # [B, T, 88, Cp]
