"""Note-informed masks (architecture "crnn-v3"): the transcription head's piano rolls vote for
the spectrogram bins their notes' harmonics fall on.

Why: in crnn-v2 the masks come from one dense layer per frame over the shared state, which must
learn for every pitch of every class where its energy lies; after about 15,000 CPU steps the
piano and guitar masks were no better than the mixture (SI-SDR improvement -0.3 and -3.0 dB on
the test split) although the same network transcribed piano at onset F1 .50. Where a note of
class c sounds is known to the transcription head, and where its harmonics lie follows from its
pitch. So for a pitched class c with frame probabilities ``p_c [B, T, 88]``

    mask_logits[c, f] += sum_k p_c[k] * sum_h a_c[h] * T[h, k, f]

where ``T[h, k, f]`` is a fixed triangle (peak 1, half-width a quarter-tone, at least one STFT bin)
at the h-th harmonic of key k and ``a_c`` are learned harmonic weights per class. The drum class's
rows (kick, snare, ...) each get a learned spectral template ``[F]`` instead. This is a
score-informed mask prior that the network computes from its own score, and the separation
loss trains the transcription head through it (the heads are coupled, not only the shared part).
All weights start at zero, so a crnn-v3 network loaded from crnn-v2 weights computes exactly what
crnn-v2 did.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..classes import MIN_PITCH, N_KEYS, ClassMap
from ..notes import midi_to_hz


def harmonic_templates(sample_rate: int, n_fft: int, n_harmonics: int) -> np.ndarray:
    """``[n_harmonics, 88, n_fft // 2 + 1]``: for harmonic h (1-based index h+1) of key k, a
    triangle over the STFT bins peaking at 1 at ``(h + 1) * f0(k)``, half-width a quarter-tone
    (at least one bin). Harmonics above Nyquist are all zero."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    df = sample_rate / n_fft
    f0 = midi_to_hz(MIN_PITCH + np.arange(N_KEYS))                               # [88]
    fh = f0[None, :] * np.arange(1, n_harmonics + 1)[:, None]                   # [H, 88]
    half = np.maximum(fh * (2 ** (1 / 24) - 1), df)
    T = np.clip(1.0 - np.abs(freqs[None, None, :] - fh[..., None]) / half[..., None], 0.0, None)
    T[fh >= sample_rate / 2] = 0.0
    return T.astype(np.float32)


# The weights are stored divided by this: Adam moves a weight about ``lr`` a step whatever its
# scale, and mask logits need to move by several units, from zero, within a few thousand steps.
WEIGHT_SCALE = 8.0


class NoteMaskPrior(nn.Module):
    """frame logits ``[B, T, R]`` -> additive mask logits ``[B, T, C, F]``.

    rows: transcription rows per class (88 for a pitched class, 5 for drums), in class order.
    """

    def __init__(self, class_map: ClassMap, sample_rate: int, n_fft: int, n_harmonics: int = 16):
        super().__init__()
        self.rows = [c.n_pitches for c in class_map.classes]
        self.is_drum = [c.is_drum for c in class_map.classes]
        n_bins = n_fft // 2 + 1
        self.register_buffer("templates", torch.from_numpy(harmonic_templates(sample_rate, n_fft, n_harmonics)),
                             persistent=False)
        n_pitched = sum(not d for d in self.is_drum)
        self.harmonic_weights = nn.Parameter(torch.zeros(n_pitched, n_harmonics))     # a_c[h]
        n_drum_rows = sum(r for r, d in zip(self.rows, self.is_drum) if d)
        self.drum_templates = nn.Parameter(torch.zeros(n_drum_rows, n_bins))

    def class_templates(self) -> list[torch.Tensor]:
        """One ``[rows_c, F]`` template per class: what one active row adds to its class's mask logits."""
        pitched = iter(torch.einsum("ph,hkf->pkf", self.harmonic_weights * WEIGHT_SCALE, self.templates))
        return [self.drum_templates * WEIGHT_SCALE if d else next(pitched) for d in self.is_drum]

    def forward(self, frame_logits: torch.Tensor) -> torch.Tensor:
        probs = torch.split(torch.sigmoid(frame_logits), self.rows, dim=-1)      # C x [B, T, rows_c]
        return torch.stack([p @ t for p, t in zip(probs, self.class_templates())], dim=2)  # [B, T, C, F]
