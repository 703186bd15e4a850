"""Note generators for the procedural arranger's pitched roles: bass, comping, pads, lines, melodies.

Every generator takes the song's :class:`Grid` (bar and step times in seconds), one
:class:`BarContext` per bar (chord, next chord, whether the part plays, loudness) and a seeded
generator, and returns notes in seconds with humanised timing and velocity. A generator picks
its pattern once per part, so a part keeps a recognisable style through the song.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..notes import Note
from .theory import Chord, Key, Meter


@dataclass(frozen=True)
class Grid:
    """Bar/step timing of a song with a constant tempo.

    bar_seconds: length of one bar; meter.steps grid steps (eighth notes) per bar.
    offset: start of bar 0 in seconds.
    swing: delay of odd grid steps as a fraction of a step (0 = straight).
    """

    meter: Meter
    bar_seconds: float
    n_bars: int
    offset: float = 0.0
    swing: float = 0.0

    @property
    def step_seconds(self) -> float:
        return self.bar_seconds / self.meter.steps

    @property
    def beat_steps(self) -> int:
        return self.meter.subdivision

    def bar_start(self, bar: int) -> float:
        return self.offset + bar * self.bar_seconds

    def time(self, bar: int, step: float) -> float:
        """Seconds of grid position ``step`` (may be fractional) in ``bar``; odd whole steps swing."""
        swing = self.swing * self.step_seconds if float(step).is_integer() and int(step) % 2 == 1 else 0.0
        return self.bar_start(bar) + step * self.step_seconds + swing


@dataclass(frozen=True)
class BarContext:
    """What one part knows about one bar: the harmony and whether/how loud it plays (intensity 0-1)."""

    chord: Chord
    next_chord: Chord
    play: bool
    intensity: float


Role = Callable[[np.random.Generator, Grid, list[BarContext], Key], list[Note]]


class _Writer:
    """Collects notes with humanised timing and velocity."""

    def __init__(self, rng: np.random.Generator, jitter: float, vel_base: float):
        self.rng, self.jitter, self.vel_base, self.notes = rng, jitter, vel_base, []

    def add(self, t: float, seconds: float, pitch: int, intensity: float, accent: float = 1.0) -> None:
        j = float(np.clip(self.rng.normal(0, self.jitter), -2.5 * self.jitter, 2.5 * self.jitter)) if self.jitter else 0.0
        start = max(0.0, t + j)
        v = self.vel_base * accent * (0.6 + 0.55 * intensity) + self.rng.normal(0, 5)
        self.notes.append(Note(int(pitch), start, start + max(0.05, seconds), int(np.clip(round(v), 15, 127))))


def _bass_root(chord: Chord, low: int = 28, high: int = 50) -> int:
    tones = [p for p in range(low, high + 1) if p % 12 == chord.root_pc]
    return tones[len(tones) // 2 - (1 if len(tones) > 2 else 0)] if tones else low


def bass(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key) -> list[Note]:
    """Bass line following the chord roots: roots, root-fifth, eighths, walking, arpeggio or syncopated."""
    style = str(rng.choice(["roots", "root-fifth", "eighths", "walking", "arpeggio", "syncopated"],
                           p=[0.15, 0.22, 0.2, 0.13, 0.12, 0.18]))
    w = _Writer(rng, 0.004, 92)
    steps, beat = grid.meter.steps, grid.beat_steps
    s = grid.step_seconds
    sync = [0, 3, 6, 7, 10, 12, 14] if steps == 8 else list(range(0, steps, 2))
    for b, ctx in enumerate(bars):
        if not ctx.play:
            continue
        root = _bass_root(ctx.chord)
        fifth_pc = ctx.chord.pcs[2] if len(ctx.chord.pcs) > 2 else (root + 7) % 12  # diminished chords too
        fifth = root + (fifth_pc - root) % 12
        fifth = fifth if fifth <= 55 else fifth - 12
        nxt = _bass_root(ctx.next_chord)
        if style == "roots":
            w.add(grid.time(b, 0), grid.bar_seconds * 0.95, root, ctx.intensity)
        elif style == "root-fifth":
            half = steps // 2 if grid.meter.beats != 3 else beat * 2
            w.add(grid.time(b, 0), half * s * 0.9, root, ctx.intensity)
            w.add(grid.time(b, half), (steps - half) * s * 0.9, fifth, ctx.intensity, 0.9)
        elif style == "eighths":
            for i in range(steps):
                w.add(grid.time(b, i), s * 0.8, root + (12 if i == steps - 1 and rng.random() < 0.3 else 0),
                      ctx.intensity, 1.0 if i % beat == 0 else 0.85)
        elif style == "walking":
            beats = grid.meter.beats
            tones = ctx.chord.voicing(root, root + 12)
            line = [root] + [int(rng.choice(tones)) for _ in range(beats - 2)]
            line.append(nxt + (1 if nxt < root else -1) if beats > 1 else root)  # chromatic approach
            for i, p in enumerate(line):
                w.add(grid.time(b, i * beat), beat * s * 0.9, p, ctx.intensity, 1.0 if i == 0 else 0.85)
        elif style == "arpeggio":
            tones = ctx.chord.voicing(root, root + 12)
            seq = tones + tones[-2:0:-1]
            for i in range(0, steps, 1 if grid.meter.subdivision == 3 else 2):
                w.add(grid.time(b, i), s * 1.8, seq[(i // 2) % len(seq)], ctx.intensity, 0.9)
        else:  # syncopated, on a sixteenth grid in simple meters
            for j, st in enumerate(sync):
                p = root + (12 if j % 3 == 2 else 0)
                w.add(grid.time(b, st / 2 if steps == 8 else st), s * 0.6, p, ctx.intensity, 1.0 if st == 0 else 0.8)
    return w.notes


def _voice(prev: list[int], chord: Chord, low: int, high: int, n: int) -> list[int]:
    """A close voicing of ``n`` chord tones led smoothly from ``prev`` (or centred in range)."""
    if prev:
        out = sorted({chord.nearest(p, low, high) for p in prev})
    else:
        centre = (low + high) // 2
        tones = chord.voicing(low, high)
        start = min(range(len(tones)), key=lambda i: abs(tones[i] - centre))
        out = tones[max(0, start - n // 2):][:n]
    tones = chord.voicing(low, high)
    while len(out) < n and tones:  # fill doubled-away voices with the next tone up
        cand = [t for t in tones if t > out[-1]] if out else tones
        if not cand:
            break
        out.append(cand[0])
    # Keep the third (the chord's character) in the voicing.
    if len(chord.pcs) > 1 and out and all(p % 12 != chord.pcs[1] for p in out):
        thirds = [t for t in tones if t % 12 == chord.pcs[1]]
        if thirds:
            out[-1] = min(thirds, key=lambda t: abs(t - out[-1]))
    return sorted(set(out))


_COMP_RHYTHMS = {8: ([0, 2, 4, 6], [0, 3, 6], [0, 4], [0, 3, 4, 7], [2, 6], [0, 1.5, 3, 4, 6]),
                 6: ([0, 2, 4], [0], [2, 4], [0, 3, 4]),
                 6.1: ([0, 3], [0, 2, 3, 5], [0])}


def keys_comp(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key,
              low: int = 48, high: int = 79) -> list[Note]:
    """Keyboard comping: block chords on a rhythm, broken-chord arpeggios, Alberti-style figures, or
    ballad (bass octave + chord)."""
    style = str(rng.choice(["block", "arpeggio", "alberti", "ballad"], p=[0.4, 0.25, 0.15, 0.2]))
    steps = grid.meter.steps
    key_ = 6.1 if grid.meter.name == "6/8" else steps
    rhythm = list(_COMP_RHYTHMS[key_][int(rng.integers(len(_COMP_RHYTHMS[key_])))])
    w = _Writer(rng, 0.007, 78)
    s = grid.step_seconds
    prev: list[int] = []
    n_voices = int(rng.integers(3, 5))
    for b, ctx in enumerate(bars):
        if not ctx.play:
            prev = []
            continue
        voicing = _voice(prev, ctx.chord, low + 7, high, n_voices)
        prev = voicing
        if style == "block":
            for i, st in enumerate(rhythm):
                end = rhythm[i + 1] if i + 1 < len(rhythm) else steps
                for p in voicing:
                    w.add(grid.time(b, st), (end - st) * s * 0.85, p, ctx.intensity, 1.0 if st == 0 else 0.85)
        elif style in ("arpeggio", "alberti"):
            tones = ctx.chord.voicing(low, high)
            base = [t for t in tones if t >= voicing[0] - 12][:6] or tones
            if style == "alberti" and len(voicing) >= 3:
                seq = [voicing[0], voicing[-1], voicing[1], voicing[-1]]
            else:
                seq = base + base[-2:0:-1]
            sub = 2 if steps == 8 and rng.random() < 0.3 else 1
            for i in range(steps * sub):
                w.add(grid.time(b, i / sub), s / sub * 1.6, seq[i % len(seq)], ctx.intensity, 0.8)
        else:  # ballad: low octave root + sustained chord
            root = min(t for t in range(36, 49) if t % 12 == ctx.chord.root_pc)
            w.add(grid.time(b, 0), grid.bar_seconds * 0.95, root, ctx.intensity)
            w.add(grid.time(b, 0), grid.bar_seconds * 0.95, root + 12, ctx.intensity, 0.8)
            half = steps // 2 if grid.meter.beats != 3 else grid.beat_steps
            for st in (0, half):
                for p in voicing:
                    w.add(grid.time(b, st), (steps - half) * s * 0.95, p, ctx.intensity, 0.8)
    return w.notes


def guitar_comp(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key) -> list[Note]:
    """Guitar comping: strummed chords (down/up strokes, strings spread in time), fingerpicked
    arpeggios, power-chord eighths, offbeat chops or a single-note riff on the chord root."""
    style = str(rng.choice(["strum", "picking", "power", "chops", "riff"], p=[0.32, 0.22, 0.18, 0.13, 0.15]))
    steps, s = grid.meter.steps, grid.step_seconds
    w = _Writer(rng, 0.006, 80)
    strum_pat = [st for st in range(steps) if rng.random() < (0.85 if st % grid.beat_steps == 0 else 0.45)] or [0]
    riff = [int(x) for x in rng.choice([0, 0, 3, 5, 7, 10, 12], size=steps)]
    riff_on = [st for st in range(steps) if st == 0 or rng.random() < 0.6]
    for b, ctx in enumerate(bars):
        if not ctx.play:
            continue
        root = min(t for t in range(40, 53) if t % 12 == ctx.chord.root_pc)
        if style == "strum":
            shape = [root] + ctx.chord.voicing(root + 5, root + 19)[:5]  # open-position-like chord shape
            for i, st in enumerate(strum_pat):
                end = strum_pat[i + 1] if i + 1 < len(strum_pat) else steps
                down = st % 2 == 0
                order = shape if down else shape[::-1][:4]
                spread = float(rng.uniform(0.006, 0.014))
                for k, p in enumerate(order):
                    w.add(grid.time(b, st) + k * spread, (end - st) * s * 0.9, p, ctx.intensity, 1.0 if down else 0.8)
        elif style == "picking":
            tones = [root] + ctx.chord.voicing(root + 7, root + 19)
            seq = [tones[0], tones[2 % len(tones)], tones[1 % len(tones)], tones[-1], tones[2 % len(tones)],
                   tones[1 % len(tones)]]
            for st in range(steps):
                w.add(grid.time(b, st), s * 2.5, seq[st % len(seq)], ctx.intensity, 0.85)
        elif style == "power":
            for st in range(steps):
                for p in (root, root + 7, root + 12):
                    w.add(grid.time(b, st), s * (0.45 if st % 2 else 0.8), p, ctx.intensity, 1.0 if st % 2 == 0 else 0.8)
        elif style == "chops":
            for st in range(grid.beat_steps // 2 or 1, steps, grid.beat_steps):
                for p in ctx.chord.voicing(root + 10, root + 20)[:4]:
                    w.add(grid.time(b, st), s * 0.35, p, ctx.intensity, 0.9)
        else:  # riff
            for st in riff_on:
                p = root + riff[st]
                w.add(grid.time(b, st), s * 0.9, key.scale_pitches(p - 1, p + 1)[0] if riff[st] else p, ctx.intensity)
    return w.notes


def pad(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key,
        low: int = 52, high: int = 84) -> list[Note]:
    """Sustained chords, smoothly voice-led, one per bar (or two per bar with a re-attack)."""
    w = _Writer(rng, 0.01, 70)
    prev: list[int] = []
    reattack = rng.random() < 0.3
    n = int(rng.integers(3, 5))
    for b, ctx in enumerate(bars):
        if not ctx.play:
            prev = []
            continue
        voicing = _voice(prev, ctx.chord, low, high, n)
        prev = voicing
        halves = (0, grid.meter.steps // 2) if reattack else (0,)
        dur = grid.bar_seconds / len(halves)
        for k, st in enumerate(halves):
            for p in voicing:
                w.add(grid.time(b, st), dur * 0.98, p, ctx.intensity, 1.0 if k == 0 else 0.8)
    return w.notes


def countermelody(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key,
                  low: int = 60, high: int = 88) -> list[Note]:
    """A slow line of chord tones (half and whole notes) moving stepwise where it can."""
    w = _Writer(rng, 0.008, 75)
    p = (low + high) // 2
    for b, ctx in enumerate(bars):
        if not ctx.play:
            continue
        splits = [0, grid.meter.steps // 2] if rng.random() < 0.5 and grid.meter.beats != 3 else [0]
        for i, st in enumerate(splits):
            end = splits[i + 1] if i + 1 < len(splits) else grid.meter.steps
            target = p + int(rng.integers(-4, 5))
            p = ctx.chord.nearest(target, low, high) if st == 0 else min(
                key.scale_pitches(low, high), key=lambda t: abs(t - target))
            w.add(grid.time(b, st), (end - st) * grid.step_seconds * 0.97, p, ctx.intensity)
    return w.notes


def melody(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key,
           low: int = 62, high: int = 86) -> list[Note]:
    """A motif-based melody: a two-bar rhythm repeated with variation; chord tones on strong beats,
    scale steps in between; phrases breathe (rest at every fourth bar's end)."""
    w = _Writer(rng, 0.008, 85)
    steps = grid.meter.steps
    motif = sorted({0} | {st for st in range(2 * steps) if rng.random() < 0.4})
    scale = key.scale_pitches(low, high)
    p = scale[len(scale) // 2]
    for b, ctx in enumerate(bars):
        if not ctx.play:
            continue
        if b % 4 == 0 and rng.random() < 0.3:  # vary the motif at phrase starts
            motif = sorted({0} | {st for st in range(2 * steps) if rng.random() < 0.4})
        on = [st - (b % 2) * steps for st in motif if (b % 2) * steps <= st < (b % 2 + 1) * steps]
        if b % 4 == 3:
            on = [st for st in on if st < steps // 2] or [0]
        for i, st in enumerate(on):
            end = on[i + 1] if i + 1 < len(on) else (steps if b % 4 != 3 else min(steps, st + 4))
            strong = st % grid.beat_steps == 0
            if strong:
                p = ctx.chord.nearest(p + int(rng.integers(-3, 4)), low, high)
            else:
                i0 = min(range(len(scale)), key=lambda k: abs(scale[k] - p))
                p = scale[int(np.clip(i0 + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(scale) - 1))]
            w.add(grid.time(b, st), max(1, end - st) * grid.step_seconds * 0.9, p, ctx.intensity, 1.0 if strong else 0.9)
    return w.notes


def stabs(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key,
          low: int = 55, high: int = 79) -> list[Note]:
    """Short syncopated chord hits (brass-section style), the same rhythm every bar."""
    w = _Writer(rng, 0.005, 95)
    hits = sorted({st for st in range(grid.meter.steps) if rng.random() < 0.3}) or [grid.meter.steps - 1]
    prev: list[int] = []
    for b, ctx in enumerate(bars):
        if not ctx.play:
            continue
        prev = _voice(prev, ctx.chord, low, high, 3)
        for st in hits:
            for p in prev:
                w.add(grid.time(b, st), grid.step_seconds * 0.6, p, ctx.intensity)
    return w.notes


def pizzicato(rng: np.random.Generator, grid: Grid, bars: list[BarContext], key: Key,
              low: int = 48, high: int = 79) -> list[Note]:
    """Plucked chord tones on the beats, walking through the chord."""
    w = _Writer(rng, 0.005, 80)
    for b, ctx in enumerate(bars):
        if not ctx.play:
            continue
        tones = ctx.chord.voicing(low + 5, high - 5)
        for i, st in enumerate(range(0, grid.meter.steps, grid.beat_steps)):
            w.add(grid.time(b, st), grid.step_seconds * 1.5, tones[(i * 2) % len(tones)], ctx.intensity)
    return w.notes
