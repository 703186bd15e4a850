"""Loading, saving and resampling audio: the one place that touches audio files.

Arrays are float32 ``[channels, samples]``; sample rates are in Hz.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a", ".aac", ".opus", ".wma")
NATIVE_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MIN_RATE, MAX_RATE = 8000, 192000
MIN_SECONDS = 0.1


class AudioError(ValueError):
    """A user's audio file cannot be used; the message is one sentence naming the file."""


def _read_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioError(f"{path}: reading {path.suffix or 'this'} files needs ffmpeg; install it with "
                         f"'apt-get install ffmpeg' or convert the file to wav or flac")
    probe = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True)
    if probe.returncode != 0:
        raise AudioError(f"{path}: ffmpeg cannot decode this file ({probe.stderr.decode(errors='replace').strip()[:120]})")
    # Decode to 32-bit float WAV on a pipe; the header gives the rate and channel count.
    out = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "wav", "-acodec", "pcm_f32le", "-"],
                         capture_output=True, check=False)
    if out.returncode != 0:
        raise AudioError(f"{path}: ffmpeg failed to decode the file")
    import io

    import soundfile as sf

    data, sr = sf.read(io.BytesIO(out.stdout), dtype="float32", always_2d=True)
    return data.T.copy(), int(sr)


def audio_info(path: str | Path) -> tuple[int, int, int]:
    """(sample_rate, channels, frames) of a file libsndfile can open, without decoding it."""
    import soundfile as sf

    info = sf.info(str(path))
    return int(info.samplerate), int(info.channels), int(info.frames)


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file and validate it.

    Returns ``(audio [channels, samples] float32, sample_rate Hz)``. Raises AudioError with one
    sentence naming the file for: a missing path, an unreadable or corrupt file, no samples,
    shorter than 0.1 s, a rate outside 8-192 kHz, or NaN/infinite samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        audio = data.T.copy()
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        if path.suffix.lower() in NATIVE_SUFFIXES and path.suffix.lower() != ".mp3":
            raise AudioError(f"{path}: cannot be read as audio, the file is corrupt or truncated ({e})") from None
        audio, sr = _read_ffmpeg(path)
    return validate_audio(audio, int(sr), name=str(path)), int(sr)


def validate_audio(audio: np.ndarray, sample_rate: int, name: str = "input") -> np.ndarray:
    """Check an in-memory signal ``[channels, samples]``; returns it as float32 or raises AudioError."""
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise AudioError(f"{name}: audio must be [channels, samples], got shape {audio.shape}")
    if audio.shape[0] > audio.shape[1] and audio.shape[1] <= 16:
        raise AudioError(f"{name}: audio looks like [samples, channels] {audio.shape}; pass [channels, samples]")
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise AudioError(f"{name}: sample rate {sample_rate} Hz is not supported (use {MIN_RATE}-{MAX_RATE} Hz)")
    if audio.shape[1] == 0 or audio.shape[0] == 0:
        raise AudioError(f"{name}: the file has no audio samples")
    if audio.shape[1] < MIN_SECONDS * sample_rate:
        raise AudioError(f"{name}: the audio is {audio.shape[1] / sample_rate:.3f} s long, shorter than the "
                         f"{MIN_SECONDS} s minimum")
    if not np.isfinite(audio).all():
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def save_audio(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write ``audio [channels, samples]`` to wav/flac/ogg/mp3, chosen by the path's suffix.

    WAV is written as 32-bit float (no clipping, stems sum to the input exactly); FLAC as 24-bit.
    """
    import soundfile as sf

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if subtype is None:
        subtype = {"wav": "FLOAT", "flac": "PCM_24", "ogg": "VORBIS", "mp3": "MPEG_LAYER_III"}.get(fmt)
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[None]
    if subtype in ("PCM_16", "PCM_24", "VORBIS", "MPEG_LAYER_III"):
        data = np.clip(data, -1.0, 1.0)
    # Written in blocks: one large write of a long Vorbis/MP3 file crashes some libsndfile builds.
    with sf.SoundFile(str(path), "w", int(sample_rate), data.shape[0], subtype=subtype,
                      format=fmt.upper()) as f:
        block = int(sample_rate) * 10
        for i in range(0, data.shape[1], block):
            f.write(np.ascontiguousarray(data[:, i:i + block].T))


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``[channels, samples]`` with soxr (high quality); returns float32."""
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    out = soxr.resample(np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def find_audio_files(folder: str | Path) -> list[Path]:
    """Audio files below a folder, sorted, by suffix."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
