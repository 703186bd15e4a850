"""Where an instrument is audible: the training target of the activity head.

(Evaluation scores activity against its own, documented definition,
``evaluate.metrics.audible_frames``: RMS over 100 ms within 30 dB of the whole mixture's RMS.
The two differ; making them one needs a retrain and is an open follow-up.)

A class is audible in a frame when its frame RMS (over ``hop`` samples, in dBFS) is above
``max(AUDIBLE_FLOOR_DB, loudest mixture frame in the excerpt - AUDIBLE_BELOW_PEAK_DB)``.
The floor ignores noise-level reverb tails; the relative term keeps the label meaningful when
a whole song is mixed quietly.
"""
from __future__ import annotations

import numpy as np

AUDIBLE_FLOOR_DB = -60.0
AUDIBLE_BELOW_PEAK_DB = 45.0


def frame_rms_db(x: np.ndarray, hop: int) -> np.ndarray:
    """Frame RMS in dBFS of ``x [..., samples]`` on the STFT frame grid (centred frames)."""
    x = np.asarray(x, np.float64)
    n = x.shape[-1] // hop + 1
    pad = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(hop // 2, n * hop)])
    frames = pad[..., : n * hop].reshape(*x.shape[:-1], n, hop)
    return 10.0 * np.log10(np.mean(frames ** 2, axis=-1) + 1e-12)


def audible_frames(stems: np.ndarray, mixture: np.ndarray, hop: int) -> np.ndarray:
    """Boolean ``[classes, frames]``: is each stem ``[classes, samples]`` audible in each frame."""
    ref = frame_rms_db(mixture, hop).max()
    thr = max(AUDIBLE_FLOOR_DB, ref - AUDIBLE_BELOW_PEAK_DB)
    return frame_rms_db(stems, hop) > thr
