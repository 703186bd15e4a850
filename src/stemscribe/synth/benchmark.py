"""Speed and label-timing measurements of the synthesiser (called by ``stemscribe benchmark``).

- :func:`throughput_benchmark`: seconds of song rendered per CPU-second of one core, for a
  6-stem procedural track (one part per class), effects and FLAC/MIDI writing included.
- :func:`alignment_check`: renders isolated notes of every class (drums included), detects each
  onset from the audio envelope and reports how far it lies from the MIDI onset, in ms.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..classes import GM_DRUM_MAP
from ..notes import Note
from ..soundfonts import find_soundfont
from .arranger import ALL_CLASSES, ArrangerConfig, arrange
from .effects import apply_chain, random_chain
from .render import Renderer
from .song import CLASS_PROGRAMS, DRUM_KITS, Part, Song, program_range

# Onset = first sample whose magnitude reaches this level relative to the note's peak. Before an
# isolated note the stem is digital silence and every effect is causal, so the first audible
# sample is where the note starts; -60 dB is low enough to find it on slow attacks (pads, bowed
# strings: their -20 dB "attack" times are reported too, for information).
ONSET_THRESHOLD_DB = -60.0
ATTACK_THRESHOLD_DB = -20.0
ALIGNMENT_TARGET_MS = 10.0
THROUGHPUT_TARGET = 40.0


def _soundfont_path(soundfont: str | Path) -> Path:
    p = Path(soundfont)
    return p if p.suffix in (".sf2", ".sf3") and p.is_file() else find_soundfont(str(soundfont))


def six_stem_song(seconds: float, seed: int = 0) -> Song:
    """A procedural song of about ``seconds`` with exactly one part per class (six stems)."""
    rng = np.random.default_rng(seed)
    song = arrange(rng, ArrangerConfig(classes=ALL_CLASSES, require_all=True, seconds=(seconds, seconds)))
    first: dict[str, Part] = {}
    for p in song.parts:
        first.setdefault(p.cls, p)
    return Song([first[c] for c in ALL_CLASSES if c in first], song.tempo, song.source)


def throughput_benchmark(seconds: float = 60.0, soundfont: str = "FluidR3_GM", sample_rate: int = 44100,
                         effects: bool = True, seed: int = 0, repeats: int = 3) -> dict:
    """Render one 6-stem track of ``seconds`` on one core and report real-time factors.

    The process is pinned to one CPU while it runs (where the OS allows). The track is rendered
    ``repeats`` times (same bytes each time); ``realtime_factor_cpu``, the per-core throughput in
    song seconds per CPU second, is the median run, with the slowest and fastest alongside, since
    on a shared machine other jobs slow single runs. Soundfont loading is done before timing and
    reported apart. Also returned: the wall-clock factor, per-stage CPU seconds of the median run
    (song, render, effects, write) and the machine's CPU count.
    """
    from .generate import SynthConfig, render_song

    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    font = _soundfont_path(soundfont)
    song = six_stem_song(seconds, seed)
    old_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if old_affinity:
        os.sched_setaffinity(0, {min(old_affinity)})
    runs = []
    try:
        renderer = Renderer(sample_rate)
        t = time.perf_counter()
        renderer.load(font)
        load_s = time.perf_counter() - t
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                cfg = SynthConfig(out=Path(tmp), tracks=1, sample_rate=sample_rate, effects=effects)
                timings: dict[str, float] = {}
                w0, c0 = time.perf_counter(), time.process_time()
                _, audio_s = render_song(cfg, song, np.random.default_rng(seed), [font], 0, renderer, timings)
                runs.append((time.process_time() - c0, time.perf_counter() - w0, timings))
        renderer.close()
    finally:
        if old_affinity:
            os.sched_setaffinity(0, old_affinity)
    runs.sort(key=lambda r: r[0])
    cpu, wall, timings = runs[len(runs) // 2]
    music_s = song.duration
    return {
        "what": "one 6-stem procedural track, render + effects + FLAC/MIDI writing, one worker on one core",
        "soundfont": font.name, "sample_rate": sample_rate, "effects": effects, "stems": len(song.parts),
        "song_seconds": round(music_s, 2), "audio_seconds": round(audio_s, 2), "repeats": repeats,
        "cpu_seconds": round(cpu, 3), "wall_seconds": round(wall, 3),
        "realtime_factor_cpu": round(music_s / cpu, 1), "realtime_factor_wall": round(music_s / wall, 1),
        "realtime_factor_cpu_range": [round(music_s / runs[-1][0], 1), round(music_s / runs[0][0], 1)],
        "stage_cpu_seconds": {k: round(v, 3) for k, v in timings.items()},
        "soundfont_load_seconds": round(load_s, 3), "target_realtime_factor": THROUGHPUT_TARGET,
        "meets_target": music_s / cpu >= THROUGHPUT_TARGET, "cpu_count": os.cpu_count(),
    }


def _probe_notes(cls: str, program: int) -> list[int]:
    """Drums: every transcribed GM drum note; pitched: low, middle and high of the program's range."""
    if cls == "drums":
        return sorted(GM_DRUM_MAP)
    lo, hi = program_range(program)
    return [lo + 3, (lo + hi) // 2, hi - 3]


def detect_onset(audio: np.ndarray, threshold_db: float = ONSET_THRESHOLD_DB) -> int | None:
    """Index of the first sample whose magnitude reaches ``threshold_db`` below the peak, or None if silent."""
    mag = np.abs(audio)
    peak = float(mag.max(initial=0.0))
    if peak < 1e-6:
        return None
    return int(np.argmax(mag >= peak * 10 ** (threshold_db / 20)))


def alignment_check(soundfont: str = "FluidR3_GM", sample_rate: int = 44100, effects: bool = True,
                    programs_per_class: int | None = None, seed: int = 0) -> dict:
    """Onset error of isolated rendered notes against their MIDI onsets, per class, in ms.

    Every class is probed with its GM programs (``programs_per_class`` of them, evenly spread; all
    when None) at the low end, middle and high end of each program's range, and drums with every
    transcribed GM drum note on several kits. The onset is the first sample within 60 dB of the
    note's peak; ``attack_*_ms`` give the time to reach -20 dB of the peak, for information.
    Each note is rendered alone at a time off FluidSynth's 64-sample grid, through a random
    effects chain when ``effects``. Positive errors mean the audio starts after the label.
    Returns per-class ``max_ms``/``mean_ms``/``n``, the worst note, and whether all are within 10 ms.
    """
    font = _soundfont_path(soundfont)
    rng = np.random.default_rng(seed)
    renderer = Renderer(sample_rate)
    per_class: dict[str, dict] = {}
    worst = {"error_ms": 0.0}
    silent: list[str] = []
    for cls in ALL_CLASSES:
        programs = list(DRUM_KITS if cls == "drums" else CLASS_PROGRAMS[cls])
        programs = sorted(set(programs))
        if programs_per_class is not None and programs_per_class < len(programs):
            idx = np.linspace(0, len(programs) - 1, programs_per_class).round().astype(int)
            programs = [programs[i] for i in idx]
        errors, attacks = [], []
        for prog in programs:
            for pitch in _probe_notes(cls, prog):
                onset = 0.2 + float(rng.uniform(0, 64 / sample_rate * 3))  # off the 64-sample grid
                part = Part("probe", prog, cls == "drums", [Note(pitch, onset, onset + 0.4, 100)])
                r = renderer.render(part, font, int(sample_rate * 1.2))
                audio = r.audio
                if effects:
                    audio = apply_chain(random_chain(rng, cls, r.program), audio, sample_rate)
                k = detect_onset(audio)
                if k is None:
                    silent.append(f"{cls} program {prog} note {pitch}")
                    continue
                err = (k / sample_rate - onset) * 1000.0
                errors.append(err)
                attacks.append((detect_onset(audio, ATTACK_THRESHOLD_DB) / sample_rate - onset) * 1000.0)
                if abs(err) > abs(worst["error_ms"]):
                    worst = {"error_ms": round(err, 3), "class": cls, "program": prog, "pitch": pitch}
        a = np.abs(np.array(errors)) if errors else np.zeros(1)
        per_class[cls] = {"max_ms": round(float(a.max()), 3), "mean_ms": round(float(a.mean()), 3), "n": len(errors),
                          "attack_max_ms": round(max(attacks, default=0.0), 1),
                          "attack_mean_ms": round(float(np.mean(attacks)) if attacks else 0.0, 1)}
    renderer.close()
    max_ms = max(v["max_ms"] for v in per_class.values())
    return {
        "soundfont": font.name, "sample_rate": sample_rate, "effects": effects,
        "threshold_db": ONSET_THRESHOLD_DB, "attack_threshold_db": ATTACK_THRESHOLD_DB, "per_class": per_class, "max_ms": max_ms, "worst": worst,
        "silent_notes": silent, "target_ms": ALIGNMENT_TARGET_MS, "within_target": max_ms <= ALIGNMENT_TARGET_MS,
    }
