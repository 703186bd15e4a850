"""Arrange composed music (a :class:`corpus.ScoreExcerpt`, or any voices plus harmony) for a band.

Test split (the reserved chorales and quartets; DESIGN.md evaluates 5-instrument mixtures): the top
voice goes to strings, the lowest to bass, the inner voices to piano or guitar as written, the
other of the two plays the chordified harmony (block chords on piano, broken chords on guitar),
and a drum part from ``drums.py`` in the piece's meter and tempo joins, entering after a bar or
two and dropping out for a phrase now and then. Train/validation corpus pieces get a freer
arrangement: each voice on a random class, an optional harmony part and optional drums.
"""
from __future__ import annotations

import numpy as np

from ..notes import Note
from .corpus import ScoreExcerpt
from .drums import DrumBar, choose_groove, drum_notes
from .song import Part, Song, pick_program

TEST_CLASSES: tuple[str, ...] = ("piano", "guitar", "bass", "drums", "strings")
TEST_STRING_PROGRAMS = (40, 41, 44, 48, 49, 50)


def _groove_meter(meter: tuple[int, int], bar_quarters: float) -> tuple[str, int]:
    """Drum groove meter for a written meter, and how many groove bars fill one written bar."""
    num, den = meter
    if den == 8 and num % 3 == 0:
        return "6/8", max(1, num // 6)
    if num % 3 == 0 and num != 6:
        return "3/4", max(1, int(round(bar_quarters / 3)))
    return "4/4", max(1, int(round(bar_quarters / 4)))


def fitted_drums(rng: np.random.Generator, ex: ScoreExcerpt, end: float) -> Part:
    """A drum part in the excerpt's meter and tempo: enters after 0-2 bars, a crash on entry and
    every eighth bar, fills at phrase ends (every fourth bar), sometimes drops out for a phrase."""
    meter, sub = _groove_meter(ex.meter, ex.bar_quarters)
    groove = choose_groove(rng, meter, straight=True)  # written music is in straight eighths
    bar_seconds = ex.bar_quarters * 60.0 / ex.tempo
    starts = [s + k * bar_seconds / sub for s in ex.bar_starts for k in range(sub) if s + k * bar_seconds / sub < end]
    enter = min(int(rng.integers(0, 3)), len(starts) // 4)  # short excerpts: drums from the start
    drop = int(rng.integers(4, max(5, len(starts)))) if rng.random() < 0.4 and len(starts) > 8 else -1
    base = float(rng.uniform(0.35, 0.8))
    bars = []
    for i in range(len(starts)):
        play = i >= enter and not (drop >= 0 and drop <= i < drop + 4)
        bars.append(DrumBar(play=play, intensity=float(np.clip(base + rng.normal(0, 0.08), 0.1, 1.0)),
                            fill=play and i % 4 == 3 and rng.random() < 0.6,
                            crash=play and (i == enter or i % 8 == 0) and rng.random() < 0.8))
    beats = {"4/4": 4, "3/4": 3, "6/8": 2}[meter]
    notes = drum_notes(rng, groove, starts, bar_seconds / sub, bars, beats)
    return Part(f"drums ({groove.name})", pick_program(rng, "drums"), True, [n for n in notes if n.start < end])


def _into_range(notes: list[Note], low: int, high: int) -> list[Note]:
    """Transpose a whole voice by octaves so its median pitch falls inside ``[low, high]``."""
    if not notes:
        return notes
    med = float(np.median([n.pitch for n in notes]))
    shift = 0
    while med + shift > high:
        shift -= 12
    while med + shift < low:
        shift += 12
    return [Note(n.pitch + shift, n.start, n.end, n.velocity) for n in notes]


def harmony_part(rng: np.random.Generator, ex: ScoreExcerpt, style: str, low: int, high: int) -> list[Note]:
    """The chordified harmony as ``"block"`` chords (each sonority re-voiced into range) or
    ``"broken"`` chords (sonority tones cycled at eighth-note rate)."""
    eighth = 30.0 / ex.tempo
    out: list[Note] = []
    vel = int(rng.integers(55, 85))
    for start, end, pitches in ex.harmony:
        pcs = sorted({p % 12 for p in pitches})
        tones = [p for p in range(low, high + 1) if p % 12 in pcs]
        if not tones:
            continue
        if style == "block":
            centre = (low + high) // 2
            chord = sorted(tones, key=lambda t: abs(t - centre))[:min(4, len(tones))]
            for p in chord:
                out.append(Note(p, start, end, int(np.clip(vel + rng.integers(-6, 7), 1, 127))))
        else:
            seq = tones[: min(5, len(tones))]
            t, k = start, 0
            while t < end - 1e-3:
                out.append(Note(seq[k % len(seq)], t, min(end, t + 2 * eighth), int(np.clip(vel + rng.integers(-8, 6), 1, 127))))
                t += eighth
                k += 1
    return out


def arrange_test(rng: np.random.Generator, ex: ScoreExcerpt, classes: tuple[str, ...] = TEST_CLASSES) -> Song:
    """The test split's arrangement of a reserved piece onto piano, guitar, bass, drums and strings
    (restricted to ``classes``)."""
    voices = ex.voices
    top, bottom = voices[0], voices[-1] if len(voices) > 1 else []
    inner = voices[1:-1]
    inner_notes = sorted((n for v in inner for n in v), key=lambda n: (n.start, n.pitch))
    piano_plays_voices = bool(rng.random() < 0.5)
    end = max(n.end for v in voices for n in v)
    parts: list[Part] = []
    if "strings" in classes:
        parts.append(Part("strings (top voice)", int(rng.choice(TEST_STRING_PROGRAMS)), False, _into_range(top, 60, 84)))
    if "piano" in classes:
        notes = inner_notes if piano_plays_voices and inner_notes else harmony_part(rng, ex, "block", 48, 76)
        parts.append(Part("piano (inner voices)" if piano_plays_voices else "piano (harmony)",
                          pick_program(rng, "piano"), False, notes))
    if "guitar" in classes:
        notes = harmony_part(rng, ex, "broken", 45, 72) if piano_plays_voices or not inner_notes else _into_range(inner_notes, 50, 70)
        parts.append(Part("guitar (harmony)" if piano_plays_voices else "guitar (inner voices)",
                          int(rng.choice([24, 25, 26, 27])), False, notes))
    if "bass" in classes and bottom:
        parts.append(Part("bass (lowest voice)", int(rng.choice([32, 33, 34, 35])), False, _into_range(bottom, 36, 50)))
    if "drums" in classes:
        parts.append(fitted_drums(rng, ex, end))
    return Song([p for p in parts if p.notes], tempo=ex.tempo, source=f"corpus:{ex.name}")


def arrange_free(rng: np.random.Generator, ex: ScoreExcerpt, classes: tuple[str, ...]) -> Song:
    """Train/validation arrangement: each voice on a random class of ``classes`` (the lowest voice
    on bass when allowed), plus an optional harmony part and optional drums."""
    pitched = [c for c in classes if c not in ("drums", "bass")] or [c for c in classes if c != "drums"]
    parts: list[Part] = []
    for i, v in enumerate(ex.voices):
        lowest = i == len(ex.voices) - 1 and len(ex.voices) > 1
        if lowest and "bass" in classes and rng.random() < 0.7:
            parts.append(Part("bass (lowest voice)", pick_program(rng, "bass"), False, _into_range(v, 36, 52)))
        elif pitched:
            cls = str(rng.choice(pitched))
            parts.append(Part(f"{cls} (voice {i + 1})", pick_program(rng, cls, pad=False if cls == "other" else None),
                              False, v))
    comp = [c for c in ("piano", "guitar") if c in classes]
    if comp and rng.random() < 0.4:
        cls = str(rng.choice(comp))
        style = "block" if cls == "piano" and rng.random() < 0.6 else "broken"
        parts.append(Part(f"{cls} (harmony)", pick_program(rng, cls), False, harmony_part(rng, ex, style, 48, 76)))
    if "drums" in classes and rng.random() < 0.5:
        parts.append(fitted_drums(rng, ex, max(n.end for v in ex.voices for n in v)))
    return Song([p for p in parts if p.notes], tempo=ex.tempo, source=f"corpus:{ex.name}")
