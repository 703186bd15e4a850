"""Training mixtures from Slakh-layout folders: a per-track cache and an on-the-fly remixer.

The cache keeps, per track, each class's audio (sum of its stems) mono at the model's rate as
float16 ``.npy`` (memory-mapped while training) and each class's notes as JSON, so training
reads no FLAC and resamples nothing. Mixtures are made on the fly: either a coherent excerpt of
one track (some classes dropped) or a remix of excerpts of different tracks, with random gains
and, optionally, a random equaliser per class (``random_eq_db``), which varies each instrument's
spectral balance the way two soundfonts' patches of the same instrument differ.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..classes import ClassMap
from ..labels import audible_frames
from ..notes import Note, notes_to_rolls
from .slakh import SlakhTrack, find_tracks

CACHE_VERSION = 1


class CachedStem:
    """One cached stem (a 1-D ``.npy`` file) read on demand: ``stem[a:b]`` reads those samples.

    Unlike ``np.load(..., mmap_mode="r")`` it holds no open file between reads (CPython's mmap
    keeps a duplicate descriptor per map), so a training set may have more stems than the
    process's open-file limit (58 h of rendered ensembles are about 3,800 tracks, 23,000 stems,
    above the usual 20,000). Each read opens the file, seeks and reads the slice."""

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            self.offset = f.tell()
        if len(shape) != 1:
            raise ValueError(f"{path}: a cached stem must be 1-D, this one has shape {shape}")
        self.path, self.dtype, self.shape = path, np.dtype(dtype), shape

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a cached stem is read by contiguous slices, e.g. stem[a:b]")
        a, b, _ = key.indices(len(self))
        n = max(0, b - a)
        if n == 0:
            return np.zeros(0, self.dtype)
        with open(self.path, "rb") as f:
            f.seek(self.offset + a * self.dtype.itemsize)
            return np.frombuffer(f.read(n * self.dtype.itemsize), self.dtype, count=n)


@dataclass
class CachedTrack:
    name: str
    audio: dict[str, np.ndarray | CachedStem]   # class -> [samples] float16, read on demand
    notes: dict[str, list[Note]]
    n_samples: int


def _cache_dir_for(track: SlakhTrack, cache_root: Path, sample_rate: int) -> Path:
    parent = track.path.parent.name
    return cache_root / f"v{CACHE_VERSION}-{sample_rate}" / parent / track.name


def cache_track(track: SlakhTrack, cache_root: Path, class_map: ClassMap, sample_rate: int) -> Path:
    """Write (once) the cache of one track; returns its folder.

    The folder is written under a temporary name and renamed into place, so that several
    processes (the ranks of a torchrun job) caching the same track at once never see, or
    memory-map, a half-written file.
    """
    d = _cache_dir_for(track, cache_root, sample_rate)
    if (d / "done").exists():
        return d
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", dir=d.parent))
    try:
        audio = track.class_audio(class_map, sample_rate)
        notes = track.class_notes(class_map)
        for c, x in audio.items():
            np.save(tmp / f"{c}.npy", x.astype(np.float16))
        (tmp / "notes.json").write_text(json.dumps(
            {c: [[n.pitch, n.start, n.end, n.velocity] for n in v] for c, v in notes.items()}))
        (tmp / "done").write_text("ok")
        if d.exists() and not (d / "done").exists():
            shutil.rmtree(d, ignore_errors=True)      # a partial cache from an interrupted run
        try:
            os.rename(tmp, d)
        except OSError:
            if not (d / "done").exists():             # not another process that got there first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return d


def notes_from_rows(raw: dict[str, list]) -> dict[str, list[Note]]:
    """The cache's ``notes.json`` (class -> rows of [pitch, start_s, end_s, velocity]) as notes."""
    return {c: [Note(int(p), float(s), float(e), int(v)) for p, s, e, v in rows] for c, rows in raw.items()}


def load_cached(d: Path, class_map: ClassMap) -> CachedTrack:
    audio = {c: CachedStem(d / f"{c}.npy") for c in class_map.names if (d / f"{c}.npy").exists()}
    notes = notes_from_rows(json.loads((d / "notes.json").read_text()))
    n = max((len(a) for a in audio.values()), default=0)
    return CachedTrack(d.name, audio, notes, n)


def load_dataset(roots: list[str | Path], cache_root: str | Path, class_map: ClassMap, sample_rate: int,
                 progress: bool = True) -> list[CachedTrack]:
    """Cache (if needed) and load every track below the given Slakh-layout folders."""
    tracks = [t for r in roots for t in find_tracks(r)]
    it = tracks
    if progress:
        from tqdm import tqdm

        it = tqdm(tracks, desc="caching tracks", unit="track", leave=False)
    out = []
    for t in it:
        d = cache_track(t, Path(cache_root), class_map, sample_rate)
        ct = load_cached(d, class_map)
        if ct.audio:
            out.append(ct)
    return out


def random_eq_db(n_bins: int, sample_rate: int, rng: np.random.Generator, max_db: float,
                 low_hz: float = 40.0, n_terms: int = 4) -> np.ndarray:
    """A random smooth equaliser: gains in dB ``[n_bins]`` for the bins of a real FFT (0 Hz to
    ``sample_rate / 2``), a sum of ``n_terms`` cosines over log frequency (``low_hz`` to Nyquist;
    flat below ``low_hz``), the k-th with amplitude ~ N(0, 1) / k, scaled so the largest
    absolute gain is U(0, ``max_db``). ``max_db`` 0 gives all zeros."""
    if max_db <= 0:
        return np.zeros(n_bins, np.float32)
    f = np.linspace(0.0, sample_rate / 2, n_bins)
    u = np.log(np.clip(f, low_hz, None) / low_hz) / np.log(sample_rate / 2 / low_hz)     # 0-1
    k = np.arange(1, n_terms + 1)[:, None]
    amp = rng.standard_normal((n_terms, 1)) / k
    curve = (amp * np.cos(np.pi * k * u[None] + rng.uniform(0, 2 * np.pi, (n_terms, 1)))).sum(0)
    peak = np.abs(curve).max()
    return (curve * (rng.uniform(0.0, max_db) / peak if peak > 0 else 0.0)).astype(np.float32)


def equalise(x: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """Filter ``x [samples]`` by the zero-phase gains ``gain_db [samples // 2 + 1]`` (real FFT bins)."""
    return np.fft.irfft(np.fft.rfft(x) * 10 ** (gain_db / 20), len(x)).astype(np.float32)


@dataclass
class Batch:
    mixture: np.ndarray     # [B, N] float32
    stems: np.ndarray       # [B, C, N] float32 (zeros for absent classes)
    frames: np.ndarray      # [B, T, R]
    onsets: np.ndarray      # [B, T, R]
    velocity: np.ndarray    # [B, T, R]
    activity: np.ndarray    # [B, T, C] 0/1


class MixtureSampler:
    """Draws training batches from cached tracks (seeded, reproducible)."""

    def __init__(self, tracks: list[CachedTrack], class_map: ClassMap, sample_rate: int, hop: int,
                 crop_seconds: float, remix_prob: float = 0.5, drop_class_prob: float = 0.15,
                 gain_db: float = 6.0, seed: int = 0, eq_db: float = 0.0):
        if not tracks:
            raise ValueError("no training tracks with audio")
        self.tracks, self.cmap, self.sr, self.hop = tracks, class_map, sample_rate, hop
        self.n = int(round(crop_seconds * sample_rate))
        self.n_frames = self.n // hop + 1
        self.remix_prob, self.drop_class_prob, self.gain_db = remix_prob, drop_class_prob, gain_db
        self.eq_db = eq_db
        self.rng = np.random.default_rng(seed)
        self.by_class = {c: [t for t in tracks if c in t.audio] for c in class_map.names}
        self.frame_rate = sample_rate / hop

    def _excerpt(self, t: CachedTrack, c: str, start: int) -> np.ndarray:
        a = t.audio[c]
        x = np.zeros(self.n, np.float32)
        seg = np.asarray(a[max(start, 0): start + self.n], np.float32)
        x[: len(seg)] = seg
        return x

    def _notes(self, t: CachedTrack, c: str, start: int) -> list[Note]:
        t0, t1 = start / self.sr, (start + self.n) / self.sr
        return [Note(n.pitch, n.start - t0, n.end - t0, n.velocity) for n in t.notes.get(c, [])
                if n.end > t0 and n.start < t1]

    def _start(self, t: CachedTrack) -> int:
        return int(self.rng.integers(0, max(1, t.n_samples - self.n // 2)))

    def sample(self) -> tuple[np.ndarray, np.ndarray, list[list[Note]]]:
        """One example: stems ``[C, N]``, present ``[C]`` bool, notes per class."""
        C = len(self.cmap)
        stems = np.zeros((C, self.n), np.float32)
        notes: list[list[Note]] = [[] for _ in range(C)]
        picks: list[tuple[int, CachedTrack, int]] = []
        if self.rng.random() < self.remix_prob:
            for i, c in enumerate(self.cmap.names):
                pool = self.by_class[c]
                if pool and self.rng.random() < 0.6:
                    t = pool[self.rng.integers(len(pool))]
                    picks.append((i, t, self._start(t)))
        else:
            t = self.tracks[self.rng.integers(len(self.tracks))]
            s = self._start(t)
            picks = [(i, t, s) for i, c in enumerate(self.cmap.names) if c in t.audio]
            picks = [p for p in picks if self.rng.random() >= self.drop_class_prob] or picks[:1]
        if not picks:
            t = self.tracks[self.rng.integers(len(self.tracks))]
            c = next(iter(t.audio))
            picks = [(self.cmap.index(c), t, self._start(t))]
        for i, t, s in picks:
            c = self.cmap.names[i]
            g = 10 ** (self.rng.uniform(-self.gain_db, self.gain_db) / 20)
            x = self._excerpt(t, c, s)
            if self.eq_db > 0:     # drawn only when on, so runs without it draw what they always did
                x = equalise(x, random_eq_db(self.n // 2 + 1, self.sr, self.rng, self.eq_db))
            stems[i] = x * g
            notes[i] = self._notes(t, c, s)
        return stems, np.array([bool(n) for n in notes]), notes

    def batch(self, batch_size: int) -> Batch:
        C = len(self.cmap)
        rows = [c.n_pitches for c in self.cmap.classes]
        R = sum(rows)
        B, T = batch_size, self.n_frames
        stems = np.zeros((B, C, self.n), np.float32)
        fr = np.zeros((B, T, R), np.float32)
        on, ve = np.zeros_like(fr), np.zeros_like(fr)
        act = np.zeros((B, T, C), np.float32)
        offs = np.cumsum([0] + rows)
        for b in range(B):
            s, _, notes = self.sample()
            # Keep the mixture well inside full scale (a common gain keeps mix == sum of stems).
            peak = np.abs(s.sum(0)).max()
            if peak > 0.95:
                s *= 0.95 / peak
            stems[b] = s
            for i, cls in enumerate(self.cmap.classes):
                f, o, v = notes_to_rolls(notes[i], T, self.frame_rate, cls.is_drum)
                fr[b, :, offs[i]:offs[i + 1]] = f
                on[b, :, offs[i]:offs[i + 1]] = o
                ve[b, :, offs[i]:offs[i + 1]] = v
            act[b] = audible_frames(s, s.sum(0), self.hop).T
        return Batch(stems.sum(1), stems, fr, on, ve, act)
