"""The report's compressed audio: downmix, resample, level and encode.

The report plays every track from one transport, so all tracks are cut or padded to the same
length at the same rate. Files are MP3 (plays in every current browser, Safari included) or
Ogg Vorbis, written through libsndfile in blocks: one large write of a long Vorbis file
crashes some libsndfile builds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import resample

FORMATS = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS")}
_WRITE_BLOCK = 1 << 15   # samples per libsndfile write call


def prepare(audio: np.ndarray, sample_rate: int, out_rate: int, n_out: int, stereo: bool) -> np.ndarray:
    """A track for the report: ``[channels, n_out]`` float32 at ``out_rate`` Hz.

    audio: ``[channels, samples]`` or ``[samples]`` at ``sample_rate`` Hz. Mono unless ``stereo``
    (a mono input stays mono). Cut or zero-padded to exactly ``n_out`` samples.
    """
    x = np.asarray(audio, dtype=np.float32)
    x = x[None] if x.ndim == 1 else x
    if not stereo or x.shape[0] == 1:
        x = x.mean(axis=0, keepdims=True)
    else:
        x = x[:2]
    x = resample(x, sample_rate, out_rate)
    if x.shape[1] >= n_out:
        return np.ascontiguousarray(x[:, :n_out])
    return np.pad(x, ((0, 0), (0, n_out - x.shape[1])))


def peak(audio: np.ndarray) -> float:
    """Largest absolute sample (linear full scale); 0 for an empty signal."""
    return float(np.max(np.abs(audio))) if np.size(audio) else 0.0


def rms(audio: np.ndarray) -> float:
    """Root mean square level (linear full scale); 0 for an empty signal."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if np.size(audio) else 0.0


def match_level(audio: np.ndarray, target_rms: float, max_gain: float = 30.0) -> np.ndarray:
    """``audio`` scaled to ``target_rms`` (gain limited to ``max_gain``), then kept below full scale."""
    level = rms(audio)
    if level > 0 and target_rms > 0:
        audio = audio * min(target_rms / level, max_gain)
    return limit(audio)


def limit(audio: np.ndarray, ceiling: float = 0.99) -> np.ndarray:
    """``audio`` scaled down, if needed, so its peak is at most ``ceiling`` (linear)."""
    p = peak(audio)
    return audio * (ceiling / p) if p > ceiling else audio


def encode(path: Path, audio: np.ndarray, sample_rate: int, quality: float) -> None:
    """Write ``audio [channels, samples]`` as MP3 or Ogg Vorbis, chosen by the path's suffix.

    quality: libsndfile's compression level, 0 (best quality, largest) to 1 (smallest); MP3 is
    variable bit rate.
    """
    import soundfile as sf

    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path}: report audio must be .mp3 or .ogg, not {path.suffix!r}")
    container, subtype = FORMATS[fmt]
    x = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    x = x[None] if x.ndim == 1 else x
    extra = {"bitrate_mode": "VARIABLE"} if fmt == "mp3" else {}
    with sf.SoundFile(str(path), "w", int(sample_rate), x.shape[0], subtype=subtype, format=container,
                      compression_level=float(quality), **extra) as f:
        frames = x.T
        for i in range(0, frames.shape[0], _WRITE_BLOCK):
            f.write(np.ascontiguousarray(frames[i:i + _WRITE_BLOCK]))
