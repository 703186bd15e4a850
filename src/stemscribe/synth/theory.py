"""Just enough music theory for the procedural arranger: modes, diatonic chords, progressions, meters.

Pitches are MIDI numbers; a key is a tonic pitch class (0 = C) plus a mode (scale steps in
semitones). Chords are built by stacking scale thirds, so every chord is diatonic to the mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
}
MODE_WEIGHTS: dict[str, float] = {"major": 0.35, "minor": 0.3, "dorian": 0.1, "mixolydian": 0.1,
                                  "lydian": 0.05, "phrygian": 0.04, "harmonic minor": 0.06}

# Progressions as scale degrees (0-based: 0 = I/i). Drawn for every mode; diatonic chords follow.
PROGRESSIONS: tuple[tuple[int, ...], ...] = (
    (0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (0, 3, 0, 4), (5, 3, 0, 4), (0, 5, 1, 4),
    (1, 4, 0, 0), (0, 6, 5, 4), (0, 3, 5, 4), (0, 0, 3, 4), (0, 2, 3, 4), (0, 4, 5, 2, 3, 0, 3, 4),
    (0, 6, 3, 0), (0, 1, 0, 6), (0, 3), (0, 4), (0, 5, 1, 4, 0, 5, 3, 4), (0, 0, 3, 3, 4, 3, 0, 4),
)


@dataclass(frozen=True)
class Meter:
    """A time signature with how the arranger counts it.

    beats: beats per bar as felt (4 in 4/4, 3 in 3/4, 2 in 6/8).
    subdivision: grid steps per beat (2 = eighths in 4/4 and 3/4, 3 = eighths in 6/8).
    numerator, denominator: written time signature.
    """

    numerator: int
    denominator: int
    beats: int
    subdivision: int

    @property
    def steps(self) -> int:
        """Grid steps per bar."""
        return self.beats * self.subdivision

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"


METERS: dict[str, Meter] = {
    "4/4": Meter(4, 4, 4, 2),
    "3/4": Meter(3, 4, 3, 2),
    "6/8": Meter(6, 8, 2, 3),
}


@dataclass(frozen=True)
class Key:
    """Tonic pitch class 0-11 and a mode name from MODES."""

    tonic: int
    mode: str

    @property
    def scale(self) -> tuple[int, ...]:
        return MODES[self.mode]

    def degree_pitch(self, degree: int, octave: int = 4) -> int:
        """MIDI pitch of a scale degree (any integer, wraps into neighbouring octaves); octave 4 holds middle C."""
        o, d = divmod(int(degree), 7)
        return 12 * (octave + 1 + o) + self.tonic + self.scale[d]

    def scale_pitches(self, low: int, high: int) -> list[int]:
        """All scale pitches in ``[low, high]``."""
        pcs = {(self.tonic + s) % 12 for s in self.scale}
        return [p for p in range(low, high + 1) if p % 12 in pcs]


@dataclass(frozen=True)
class Chord:
    """A diatonic chord: root degree and its pitch classes (root first)."""

    degree: int
    root_pc: int
    pcs: tuple[int, ...]

    def voicing(self, low: int, high: int) -> list[int]:
        """All chord tones in ``[low, high]``."""
        return [p for p in range(low, high + 1) if p % 12 in self.pcs]

    def nearest(self, pitch: int, low: int, high: int) -> int:
        """Chord tone in range nearest to ``pitch``."""
        tones = self.voicing(low, high)
        return min(tones, key=lambda t: (abs(t - pitch), t)) if tones else pitch


def diatonic_chord(key: Key, degree: int, seventh: bool = False) -> Chord:
    """Triad (or seventh chord) on a scale degree, stacked in scale thirds."""
    steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
    pcs = tuple((key.degree_pitch(degree + s) % 12) for s in steps)
    return Chord(degree % 7, pcs[0], pcs)


def random_key(rng: np.random.Generator) -> Key:
    """Uniform tonic, mode drawn by MODE_WEIGHTS."""
    names = list(MODE_WEIGHTS)
    w = np.array([MODE_WEIGHTS[n] for n in names])
    return Key(int(rng.integers(12)), str(rng.choice(names, p=w / w.sum())))


def random_progression(rng: np.random.Generator, key: Key, bars: int, sevenths: float = 0.2) -> list[Chord]:
    """One chord per bar for ``bars`` bars, cycling a random stock progression.

    ``sevenths``: probability that a chord becomes a seventh chord.
    """
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    if key.mode in ("minor", "harmonic minor", "dorian", "phrygian") and rng.random() < 0.5:
        # Minor-key rock/pop staples: i-VI-III-VII, i-VII-VI-VII.
        prog = ((0, 5, 2, 6), (0, 6, 5, 6), (0, 3, 6, 2))[int(rng.integers(3))]
    return [diatonic_chord(key, prog[i % len(prog)], seventh=bool(rng.random() < sevenths)) for i in range(bars)]
