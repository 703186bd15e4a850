"""Render a data set: plan tracks, render them (in a process pool), write, resume, report progress.

Track ``i`` of a split is a pure function of (config, seed, split, i): its random stream comes
from ``seeds.track_rng`` and nothing else, so output bytes do not depend on ``workers`` or on
interruptions. A finished ``TrackNNNNN`` folder is kept on a re-run; a half-written
``.TrackNNNNN.partial`` is deleted and the track rendered again.
"""
from __future__ import annotations

import math
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..soundfonts import resolve_soundfont, soundfonts_for_split
from .arranger import ALL_CLASSES
from .effects import EffectsConfig, apply_chain, random_chain
from .render import Renderer
from .seeds import SPLITS, track_rng
from .song import Song
from .sources import SourcePlan, make_song, plan_sources
from .writer import RenderedStem, is_complete, snap_to_ticks, track_name, write_track


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides a rendered data set (defaults are the documented behaviour).

    out: folder that receives TrackNNNNN folders.
    split: "train", "validation" or "test" (decides soundfonts, sources and seed space).
    tracks / hours: how much to render: a number of tracks, or tracks until their total length
        reaches this many hours (exactly one of the two).
    seed: user seed; with split and track index it determines every track.
    workers: processes rendering in parallel (1 renders in this process).
    sample_rate: Hz. track_seconds: (min, max) length of the music of a track in seconds
        (each track adds up to ``tail_seconds`` of release and reverb tail).
    classes: classes a track may use; None = all six. When given, every procedural track has
        every listed class.
    source: "procedural", "midi", "corpus" or "mix"; None = the split's default (train and
        validation: a mix of procedural, corpus and, with midi_dir, MIDI files; test: the reserved
        corpus pieces).
    midi_dir: a folder of the user's MIDI files (train and validation only).
    soundfonts: extra user soundfont files or known names (train and validation only).
    default_soundfonts: False renders with ``soundfonts`` alone, not the split's defaults
        (train and validation only).
    ensemble: arrange corpus pieces in the test split's five-part ensemble (``sources.SourcePlan``;
        train and validation need ``source="corpus"``).
    effects: per-stem pedalboard effects on/off.
    stem_level_db: each stem is scaled so the loudness of its playing frames sits at a common
        reference plus a random offset from this range (soundfont presets differ by 30 dB, so
        raw levels would bury some instruments); then one common gain for all stems sets the
        mix peak to a random level in ``mix_peak``. Written stems are the scaled ones, so the
        mix is still exactly their sum.
    subtype: FLAC sample format, "PCM_16" or "PCM_24".
    """

    out: Path
    split: str = "train"
    tracks: int | None = None
    hours: float | None = None
    seed: int = 0
    workers: int = 1
    sample_rate: int = 44100
    track_seconds: tuple[float, float] = (30.0, 60.0)
    classes: tuple[str, ...] | None = None
    source: str | None = None
    midi_dir: Path | None = None
    soundfonts: tuple[Path, ...] = ()
    default_soundfonts: bool = True
    ensemble: bool = False
    effects: bool = True
    subtype: str = "PCM_16"
    tail_seconds: float = 2.0
    stem_level_db: tuple[float, float] = (-8.0, 2.0)
    mix_peak: tuple[float, float] = (0.5, 0.95)
    effects_config: EffectsConfig = field(default_factory=EffectsConfig)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; use {', '.join(SPLITS)}")
        if (self.tracks is None) == (self.hours is None):
            raise ValueError("give exactly one of tracks and hours")
        if self.tracks is not None and self.tracks < 1:
            raise ValueError(f"tracks must be at least 1, got {self.tracks}")
        if self.hours is not None and not self.hours > 0:
            raise ValueError(f"hours must be positive, got {self.hours}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if not 8000 <= self.sample_rate <= 192000:
            raise ValueError(f"sample rate {self.sample_rate} Hz outside 8000-192000 Hz")
        if not 0 < self.track_seconds[0] <= self.track_seconds[1]:
            raise ValueError(f"track length range {self.track_seconds} must satisfy 0 < min <= max seconds")
        if self.classes is not None:
            bad = [c for c in self.classes if c not in ALL_CLASSES]
            if bad or not self.classes:
                raise ValueError(f"unknown classes {', '.join(bad) or '(none given)'}; choose from {', '.join(ALL_CLASSES)}")
        if self.subtype not in ("PCM_16", "PCM_24"):
            raise ValueError(f"subtype {self.subtype!r} not supported; use PCM_16 or PCM_24")


REFERENCE_DB = -20.0  # stems' playing loudness before the common mix gain, dBFS RMS
SILENT_PEAK = 1e-4  # a dry stem peaking below -80 dBFS is taken as silent: neither stem nor labels


def active_rms_db(audio: np.ndarray, sample_rate: int, floor_db: float = -50.0) -> float | None:
    """RMS level in dBFS of the frames where a stem plays (50 ms frames within ``floor_db`` of its
    loudest frame), or None for a silent stem."""
    hop = max(1, sample_rate // 20)
    n = len(audio) // hop * hop
    if n == 0:
        return None
    frames = audio[:n].reshape(-1, hop)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop
    top = float(power.max())
    if top < 1e-12:
        return None
    active = power[power >= top * 10 ** (floor_db / 10)]
    return float(10 * np.log10(active.mean()))


@dataclass
class SynthReport:
    """What a run did: tracks written now, tracks kept from earlier runs, seconds of audio, wall time."""

    written: int = 0
    kept: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    tracks: list[str] = field(default_factory=list)


@dataclass
class _Job:
    """What every track of a run shares; set once per process (pool initializer or inline)."""

    cfg: SynthConfig
    plan: SourcePlan
    soundfonts: list[Path]
    renderer: Renderer | None = None


_JOB: _Job | None = None


def _init_job(cfg: SynthConfig, plan: SourcePlan, soundfonts: list[Path]) -> None:
    global _JOB
    if _JOB is None or _JOB.cfg != cfg or _JOB.plan != plan:
        if _JOB is not None and _JOB.renderer is not None and _JOB.renderer.sample_rate != cfg.sample_rate:
            _JOB.renderer.close()
            _JOB.renderer = None
        renderer = _JOB.renderer if _JOB is not None else None
        _JOB = _Job(cfg, plan, soundfonts, renderer)


def _run_job(index: int) -> tuple[str, float]:
    assert _JOB is not None, "_init_job must run first"
    if _JOB.renderer is None:
        _JOB.renderer = Renderer(_JOB.cfg.sample_rate)
    return render_track(_JOB.cfg, _JOB.plan, _JOB.soundfonts, index, _JOB.renderer)


def render_track(cfg: SynthConfig, plan: SourcePlan, soundfonts: list[Path], index: int,
                 renderer: Renderer, timings: dict[str, float] | None = None) -> tuple[str, float]:
    """Make, render and write track ``index``; returns (folder name, seconds of audio).

    timings: if given, receives CPU seconds spent per stage ("song", "render", "effects", "write").
    """
    t = time.process_time()
    rng = track_rng(cfg.seed, cfg.split, index)
    song = make_song(rng, plan)
    if timings is not None:
        timings["song"] = timings.get("song", 0.0) + time.process_time() - t
    return render_song(cfg, song, rng, soundfonts, index, renderer, timings)


def render_song(cfg: SynthConfig, song: Song, rng: np.random.Generator, soundfonts: list[Path], index: int,
                renderer: Renderer, timings: dict[str, float] | None = None) -> tuple[str, float]:
    """Render ``song`` stem by stem, add effects and gains, and write it as track ``index``."""
    clock = {"render": 0.0, "effects": 0.0, "write": 0.0}
    song = snap_to_ticks(song)
    sr = cfg.sample_rate
    n = int(math.ceil((song.duration + cfg.tail_seconds) * sr))
    per_stem = len(soundfonts) > 1 and rng.random() < 0.5
    track_font = soundfonts[int(rng.integers(len(soundfonts)))]
    fonts = [soundfonts[int(rng.integers(len(soundfonts)))] if per_stem else track_font for _ in song.parts]
    t = time.process_time()
    rendered = renderer.render_parts(song.parts, fonts, n)
    clock["render"] += time.process_time() - t
    stems: list[RenderedStem] = []
    t = time.process_time()
    for part, font, r in zip(song.parts, fonts, rendered):
        audio = r.audio
        if cfg.effects:
            audio = apply_chain(random_chain(rng, part.cls, r.program, cfg.effects_config), audio, sr)
        level = active_rms_db(audio, sr)
        if level is None or float(np.abs(audio).max()) < SILENT_PEAK:
            continue  # inaudible (no notes inside the track, or a silent preset): no stem, no labels
        audio *= np.float32(10 ** ((REFERENCE_DB + rng.uniform(*cfg.stem_level_db) - level) / 20))
        stems.append(RenderedStem(part, r.program, font.name, audio))
    clock["effects"] += time.process_time() - t
    if not stems:
        raise RuntimeError(f"{track_name(index)}: every part rendered silent ({song.source})")
    t = time.process_time()
    mix = np.sum([s.audio for s in stems], axis=0)
    peak = max(float(np.abs(mix).max()), max(float(np.abs(s.audio).max()) for s in stems))
    gain = float(rng.uniform(*cfg.mix_peak)) / peak  # one gain for all stems: mix stays their sum
    for s in stems:
        np.multiply(s.audio, np.float32(gain), out=s.audio)
    info = {"split": cfg.split, "seed": int(cfg.seed), "index": int(index)}
    path = write_track(cfg.out, index, song, stems, sr, cfg.subtype, info)
    clock["write"] += time.process_time() - t
    if timings is not None:
        for k, v in clock.items():
            timings[k] = timings.get(k, 0.0) + v
    return path.name, n / sr


def _track_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path / "mix.flac"))
    return info.frames / info.samplerate


def synthesize(cfg: SynthConfig, progress: bool = True) -> SynthReport:
    """Render the data set described by ``cfg``; resumes an interrupted run in the same folder.

    Raises ``soundfonts.SoundfontError`` for a missing or split-forbidden soundfont,
    ``render.RenderError`` for a user soundfont FluidSynth cannot load, and
    ``sources.SourceError`` for a source the split forbids or an empty/unreadable MIDI folder.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    soundfonts = list(dict.fromkeys(soundfonts_for_split(cfg.split, list(cfg.soundfonts),
                                                         cfg.default_soundfonts)))  # no duplicates
    plan = plan_sources(cfg.split, cfg.source, cfg.midi_dir, cfg.classes, cfg.track_seconds, cfg.ensemble)
    if cfg.soundfonts:  # a user's soundfont that FluidSynth cannot read fails now, not at random later
        probe = Renderer(cfg.sample_rate)
        try:
            for font in cfg.soundfonts:
                probe.load(resolve_soundfont(font))
        finally:
            probe.close()
    cfg.out.mkdir(parents=True, exist_ok=True)
    for stale in cfg.out.glob(".Track*.partial"):
        shutil.rmtree(stale)
    report = SynthReport()
    target = cfg.hours * 3600.0 if cfg.hours is not None else None
    bar = tqdm(total=cfg.tracks if target is None else round(target), unit="track" if target is None else "s",
               file=sys.stderr, disable=not progress, desc=f"synth {cfg.split}")
    durations: dict[int, float] = {}  # track index -> seconds, for tracks finished or kept
    kept: set[int] = set()
    submitted: set[int] = set()

    def prefix() -> tuple[int, float]:
        """How many tracks from index 0 on are done, and their total seconds (stops at the target)."""
        total, i = 0.0, 0
        while i in durations and (target is None or total < target):
            total += durations[i]
            i += 1
        return i, total

    def needed() -> int | None:
        """Number of tracks the run needs, once known."""
        if target is None:
            return cfg.tracks
        i, total = prefix()
        return i if total >= target else None

    def record(i: int, seconds: float) -> None:
        durations[i] = seconds
        if target is None:
            bar.update(1)
        else:
            bar.n = round(min(prefix()[1], target))
            bar.refresh()

    if cfg.workers > 1:
        import multiprocessing

        # spawn: a forked child would inherit this process's FluidSynth and tqdm state.
        pool = ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_job, initargs=(cfg, plan, soundfonts))
    else:
        pool = None
        _init_job(cfg, plan, soundfonts)
    window = 2 * cfg.workers  # tracks in flight, and how far past the first unfinished one they may be
    running: dict[Future, int] = {}
    nxt = 0
    try:
        while True:
            need = needed()
            if need is not None and all(i in durations for i in range(need)):
                break
            lowest = min((i for i in range(nxt) if i not in durations), default=nxt)
            while len(running) < window and nxt < lowest + window and (need is None or nxt < need):
                i, nxt = nxt, nxt + 1
                path = cfg.out / track_name(i)
                if is_complete(path):
                    kept.add(i)
                    record(i, _track_seconds(path))
                elif pool is None:
                    record(i, _run_job(i)[1])
                else:
                    submitted.add(i)
                    running[pool.submit(_run_job, i)] = i
                need = needed()
                if pool is None:
                    break
            if running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for f in finished:
                    record(running.pop(f), f.result()[1])
    finally:
        for f in running:
            f.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    need = needed() or 0
    for i in sorted(submitted):
        if i >= need:  # rendered ahead of an --hours target that was already reached
            shutil.rmtree(cfg.out / track_name(i), ignore_errors=True)
    report.kept = len([i for i in kept if i < need])
    report.written = need - report.kept
    report.seconds = sum(durations[i] for i in range(need))
    report.tracks = [track_name(i) for i in range(need)]
    report.wall_seconds = time.perf_counter() - t0
    return report
