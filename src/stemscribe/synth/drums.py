"""Drum grooves for the procedural arranger and for the test split's arrangements.

A :class:`Groove` is one bar of patterns on a step grid (one string per GM drum note:
``x`` accent, ``o`` soft hit, ``.`` rest). :func:`drum_notes` plays a groove over a list of bars,
with per-bar dynamics, fills into new sections, crashes on section starts, ride or open hi-hat
in loud sections, random ghost notes and humanised timing. Times are seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..notes import DRUM_NOTE_SECONDS, Note

KICK, SIDE_STICK, SNARE, CLAP = 36, 37, 38, 39
HAT, PEDAL_HAT, OPEN_HAT, RIDE, RIDE_BELL = 42, 44, 46, 51, 53
CRASH, CRASH2, SPLASH, CHINA = 49, 57, 55, 52
TOMS = (50, 48, 47, 45, 43, 41)  # high to low
SHAKER, TAMBOURINE, COWBELL = 70, 54, 56


@dataclass(frozen=True)
class Groove:
    """One bar of drum patterns.

    name: style name.
    meter: time signature the groove is written in ("4/4", "3/4", "6/8").
    lanes: (GM drum note, pattern) pairs; every pattern has the same length = grid steps per bar.
    loud_lanes: replacements used in loud sections (e.g. ride instead of closed hi-hat), keyed by
        the note they replace.
    swing: delay of every odd step as a fraction of the step (0 = straight, 0.33 = triplet swing).
    """

    name: str
    meter: str
    lanes: tuple[tuple[int, str], ...]
    loud_lanes: tuple[tuple[int, int, str], ...] = ()
    swing: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.lanes[0][1])


GROOVES: tuple[Groove, ...] = (
    Groove("rock", "4/4", ((KICK, "x.......x.x....."), (SNARE, "....x.......x..."), (HAT, "x.o.x.o.x.o.x.o.")),
           ((HAT, RIDE, "x.o.x.o.x.o.x.o."),)),
    Groove("rock", "4/4", ((KICK, "x.....x.x.....x."), (SNARE, "....x.......x..."), (HAT, "x.x.x.x.x.x.x.x.")),
           ((HAT, OPEN_HAT, "x.x.x.x.x.x.x.x."),)),
    Groove("funk", "4/4", ((KICK, "x.....x...x..x.."), (SNARE, "....x..o.o..x..o"), (HAT, "xoxoxoxoxoxoxoxo")),
           ((HAT, HAT, "xoxoxoxoxoxoxoxo"),)),
    Groove("funk", "4/4", ((KICK, "x..x..x...x....."), (SNARE, "....x.o....ox..."), (HAT, "x.xox.xox.xox.xo"),
                           (OPEN_HAT, "..............x.")), swing=0.12),
    Groove("four-on-the-floor", "4/4", ((KICK, "x...x...x...x..."), (CLAP, "....x.......x..."),
                                        (HAT, "o.o.o.o.o.o.o.o."), (OPEN_HAT, "..x...x...x...x.")),
           ((HAT, SHAKER, "oooooooooooooooo"),)),
    Groove("shuffle", "4/4", ((KICK, "x.....x.x..."), (SNARE, "...x.....x.."), (HAT, "x.ox.ox.ox.o")),
           ((HAT, RIDE, "x.ox.ox.ox.o"),)),
    Groove("swing", "4/4", ((KICK, "o.....o....."), (PEDAL_HAT, "...x.....x.."), (RIDE, "x..x.xx..x.x"),
                            (SNARE, "........o..o")), ((RIDE, RIDE, "x..x.xx..x.x"),)),
    Groove("bossa", "4/4", ((KICK, "x..xx..xx..xx..x"), (SIDE_STICK, "x..x..x...x..x.."), (HAT, "o.o.o.o.o.o.o.o.")),
           ((HAT, SHAKER, "oooooooooooooooo"),)),
    Groove("latin", "4/4", ((KICK, "x...x..xx...x..x"), (SIDE_STICK, "....x.......x..."), (COWBELL, "x.x.x.x.x.x.x.x."),
                            (HAT, "o.o.o.o.o.o.o.o.")), ((HAT, TAMBOURINE, "o.x.o.x.o.x.o.x."),)),
    Groove("ballad", "4/4", ((KICK, "x.......x.x....."), (SIDE_STICK, "....x.......x..."), (HAT, "o.o.o.o.o.o.o.o.")),
           ((SIDE_STICK, SNARE, "....x.......x..."), (HAT, RIDE, "x.o.x.o.x.o.x.o."))),
    Groove("waltz", "3/4", ((KICK, "x..........."), (SNARE, "....o...o..."), (HAT, "x.o.x.o.x.o.")),
           ((HAT, RIDE, "x.o.x.o.x.o."),)),
    Groove("jazz waltz", "3/4", ((KICK, "o..........."), (RIDE, "x...x..xx..."), (PEDAL_HAT, "....x...x..."),
                                 (SNARE, "......o....o")), ((RIDE, RIDE, "x...x..xx..."),)),
    Groove("rock", "3/4", ((KICK, "x.....x....."), (SNARE, "....x...x..."), (HAT, "x.x.x.x.x.x.")),
           ((HAT, RIDE, "x.x.x.x.x.x."),)),
    Groove("6/8 ballad", "6/8", ((KICK, "x....."), (SIDE_STICK, "...x.."), (HAT, "xoooxo")),
           ((SIDE_STICK, SNARE, "...x.."), (HAT, RIDE, "xoxoxo"))),
    Groove("6/8 rock", "6/8", ((KICK, "x.x..."), (SNARE, "...x.."), (HAT, "xxxxxx")), ((HAT, OPEN_HAT, "x.x.x."),)),
    Groove("6/8 shuffle", "6/8", ((KICK, "x....o"), (SNARE, "...x.o"), (HAT, "x.xx.x")), ((HAT, RIDE, "x.xx.x"),)),
)


@dataclass(frozen=True)
class DrumBar:
    """What the drummer does in one bar.

    play: False leaves the bar silent.
    intensity: 0-1, scales velocities; above 0.7 the groove's loud lanes replace the quiet ones.
    fill: play a fill over the bar's last beat(s) into the next section.
    crash: crash cymbal (with kick) on the bar's downbeat.
    """

    play: bool = True
    intensity: float = 0.6
    fill: bool = False
    crash: bool = False


def is_straight(groove: Groove) -> bool:
    """Whether a groove has a straight (not triplet or swung) feel, so it fits straight-eighth music."""
    triplets = groove.meter == "4/4" and groove.steps % 3 == 0  # a 12-step 4/4 bar is a triplet grid
    return groove.swing == 0 and not triplets and groove.name not in ("swing", "jazz waltz")


def choose_groove(rng: np.random.Generator, meter: str, straight: bool = False) -> Groove:
    """A random groove written in ``meter`` (only straight-feel ones when ``straight``)."""
    pool = [g for g in GROOVES if g.meter == meter and (is_straight(g) or not straight)]
    if not pool:
        raise ValueError(f"no drum groove for meter {meter!r}; known: {sorted({g.meter for g in GROOVES})}")
    return pool[int(rng.integers(len(pool)))]


def _velocity(rng: np.random.Generator, ch: str, intensity: float) -> int:
    base = 100 if ch == "x" else 55
    v = base * (0.65 + 0.5 * intensity) + rng.normal(0, 6)
    return int(np.clip(round(v), 20, 127))


def _fill_hits(rng: np.random.Generator, steps: int, beats: int) -> list[tuple[int, int, str]]:
    """(step, note, accent) hits of a fill over the bar's last one or two beats."""
    per_beat = steps // beats
    length = per_beat * (2 if beats >= 3 and rng.random() < 0.4 else 1)
    start = steps - length
    kind = int(rng.integers(3))
    toms = list(TOMS[int(rng.integers(2)):][:4])
    hits = []
    for i, s in enumerate(range(start, steps)):
        if kind == 0:        # snare roll, every step
            hits.append((s, SNARE, "x" if i % 2 == 0 else "o"))
        elif kind == 1:      # descending toms
            hits.append((s, toms[min(i * len(toms) // length, len(toms) - 1)], "x"))
        elif i % 2 == 0:     # sparse: snare, then toms, every other step
            hits.append((s, SNARE if i < length // 2 else toms[-1], "x"))
    return hits


def drum_notes(rng: np.random.Generator, groove: Groove, bar_starts: list[float], bar_seconds: float,
               bars: list[DrumBar], beats_per_bar: int, humanise: float = 0.006) -> list[Note]:
    """Notes of a drum part.

    bar_starts: start of each bar in seconds (same length as ``bars``).
    bar_seconds: length of one bar in seconds.
    beats_per_bar: felt beats per bar (4 in 4/4, 3 in 3/4, 2 in 6/8), for fill lengths.
    humanise: standard deviation of the timing jitter in seconds (clipped at 2.5x).
    """
    if len(bar_starts) != len(bars):
        raise ValueError(f"{len(bar_starts)} bar starts for {len(bars)} bars")
    steps = groove.steps
    step_s = bar_seconds / steps
    notes: list[Note] = []

    def hit(t: float, note: int, ch: str, intensity: float) -> None:
        t += float(np.clip(rng.normal(0, humanise), -2.5 * humanise, 2.5 * humanise)) if humanise else 0.0
        t = max(t, 0.0)
        notes.append(Note(note, t, t + DRUM_NOTE_SECONDS, _velocity(rng, ch, intensity)))

    for start, bar in zip(bar_starts, bars):
        if not bar.play:
            continue
        lanes = dict(groove.lanes)
        if bar.intensity > 0.7:
            for old, new, pat in groove.loud_lanes:
                lanes.pop(old, None)
                lanes[new] = pat
        fill = _fill_hits(rng, steps, beats_per_bar) if bar.fill else []
        fill_from = min((s for s, _, _ in fill), default=steps)
        for note, pat in lanes.items():
            for s, ch in enumerate(pat):
                if s >= fill_from and note != KICK:
                    continue
                if ch == "." and note == SNARE and groove.name in ("funk", "rock") and rng.random() < 0.04:
                    ch = "o"  # occasional ghost note
                if ch == ".":
                    continue
                if ch == "o" and rng.random() < 0.1:
                    continue  # occasional dropped soft hit
                swing = groove.swing * step_s if s % 2 == 1 else 0.0
                hit(start + s * step_s + swing, note, ch, bar.intensity)
        for s, note, ch in fill:
            hit(start + s * step_s, note, ch, min(1.0, bar.intensity + 0.2))
        if bar.crash:
            hit(start, CRASH if rng.random() < 0.7 else CRASH2, "x", bar.intensity)
            if KICK not in lanes or lanes[KICK][0] == ".":
                hit(start, KICK, "x", bar.intensity)
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes
