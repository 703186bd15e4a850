"""The procedural arranger: seeded, musically plausible multi-instrument songs.

A song gets a key and mode, a meter (4/4, 3/4, 6/8), a tempo (60-180 quarter-note BPM), a
form of sections (intro, verse, chorus, bridge, breakdown, outro) with their own chord
progressions and loudness, and a band: drums in one of several styles, a bass line that follows
the roots, piano and guitar comping, string pads or lines, a melody and "other" instruments
(organ, brass, reeds, synths, ...). Each part plays in some sections and rests in others, so
instruments drop in and out and the activity labels are not all-on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import roles
from .drums import DrumBar, choose_groove, drum_notes
from .song import Part, Song, pick_program
from .theory import METERS, Key, Meter, random_key, random_progression

ALL_CLASSES: tuple[str, ...] = ("piano", "guitar", "bass", "drums", "strings", "other")

# Section type -> (loudness 0-1, typical length in bars).
SECTIONS: dict[str, tuple[float, int]] = {
    "intro": (0.35, 4), "verse": (0.55, 8), "chorus": (0.85, 8), "bridge": (0.5, 4),
    "breakdown": (0.3, 4), "outro": (0.4, 4),
}
# Role -> probability of playing in each section type.
PRESENCE: dict[str, dict[str, float]] = {
    "drums": {"intro": 0.4, "verse": 0.95, "chorus": 1.0, "bridge": 0.7, "breakdown": 0.1, "outro": 0.5},
    "bass": {"intro": 0.4, "verse": 0.9, "chorus": 1.0, "bridge": 0.8, "breakdown": 0.3, "outro": 0.6},
    "comp": {"intro": 0.7, "verse": 0.8, "chorus": 0.95, "bridge": 0.7, "breakdown": 0.7, "outro": 0.7},
    "pad": {"intro": 0.5, "verse": 0.5, "chorus": 0.85, "bridge": 0.7, "breakdown": 0.6, "outro": 0.6},
    "melody": {"intro": 0.15, "verse": 0.85, "chorus": 0.9, "bridge": 0.5, "breakdown": 0.3, "outro": 0.2},
    "line": {"intro": 0.2, "verse": 0.4, "chorus": 0.8, "bridge": 0.5, "breakdown": 0.2, "outro": 0.3},
}


@dataclass(frozen=True)
class ArrangerConfig:
    """What the arranger may draw from.

    classes: classes a song may use; with ``require_all`` every one of them gets at least one part
        (how 5-instrument piano/guitar/bass/drums/strings sets are made).
    seconds: (min, max) song length in seconds, drawn uniformly.
    tempo: (min, max) quarter-note BPM.
    meters: (time signature, weight) pairs.
    """

    classes: tuple[str, ...] = ALL_CLASSES
    require_all: bool = False
    seconds: tuple[float, float] = (30.0, 60.0)
    tempo: tuple[float, float] = (60.0, 180.0)
    meters: tuple[tuple[str, float], ...] = (("4/4", 0.7), ("3/4", 0.15), ("6/8", 0.15))

    def __post_init__(self) -> None:
        bad = [c for c in self.classes if c not in ALL_CLASSES]
        if bad or not self.classes:
            raise ValueError(f"unknown or no classes {bad or list(self.classes)}; choose from {', '.join(ALL_CLASSES)}")
        if not 0 < self.seconds[0] <= self.seconds[1]:
            raise ValueError(f"song length range {self.seconds} must satisfy 0 < min <= max seconds")


@dataclass
class _Member:
    """A band member: a part to fill, its role and the sections it plays in."""

    part: Part
    role: str
    make: roles.Role | None = None
    sections: set[int] = field(default_factory=set)
    late_entry: set[int] = field(default_factory=set)  # sections it joins halfway through


def _form(rng: np.random.Generator, n_bars: int) -> list[tuple[str, int]]:
    """Section types and lengths in bars adding up to ``n_bars``."""
    form: list[tuple[str, int]] = []
    if rng.random() < 0.7:
        form.append(("intro", int(rng.choice([2, 4]))))
    cycle = ["verse", "chorus"]
    i = 0
    while sum(b for _, b in form) < n_bars:
        kind = cycle[i % 2]
        if i >= 2 and i % 2 == 0 and rng.random() < 0.35:
            kind = str(rng.choice(["bridge", "breakdown"]))
        form.append((kind, int(rng.choice([4, 8] if SECTIONS[kind][1] == 8 else [2, 4]))))
        i += 1
    if len(form) > 2 and rng.random() < 0.5:
        form[-1] = ("outro", form[-1][1])
    total = sum(b for _, b in form)
    kind, bars = form[-1]
    form[-1] = (kind, bars - (total - n_bars))
    return [(k, b) for k, b in form if b > 0]


def _band(rng: np.random.Generator, cfg: ArrangerConfig) -> list[_Member]:
    """Pick the parts of a song: which classes play and in which roles, with GM programs."""
    chosen = list(cfg.classes)
    if not cfg.require_all:
        keep = {"drums": 0.9, "bass": 0.9, "piano": 0.75, "guitar": 0.75, "strings": 0.6, "other": 0.75}
        chosen = [c for c in chosen if rng.random() < keep[c]] or [str(rng.choice(list(cfg.classes)))]
    band: list[_Member] = []
    for cls in chosen:
        if cls == "drums":
            band.append(_Member(Part("drums", pick_program(rng, "drums"), True), "drums"))
        elif cls == "bass":
            band.append(_Member(Part("bass", pick_program(rng, "bass"), False), "bass", roles.bass))
        elif cls == "piano":
            band.append(_Member(Part("keys", pick_program(rng, "piano"), False), "comp", roles.keys_comp))
        elif cls == "guitar":
            prog = pick_program(rng, "guitar")
            band.append(_Member(Part("guitar", prog, False), "comp", roles.guitar_comp))
            if rng.random() < 0.3:
                band.append(_Member(Part("guitar 2", pick_program(rng, "guitar"), False), "comp", roles.guitar_comp))
        elif cls == "strings":
            r = rng.random()
            if r < 0.12:
                band.append(_Member(Part("pizzicato strings", 45, False), "line", roles.pizzicato))
            elif r < 0.4:
                band.append(_Member(Part("string line", pick_program(rng, "strings"), False), "line", roles.countermelody))
            else:
                band.append(_Member(Part("string pad", int(rng.choice([48, 49, 50, 51, 44, 42, 40])), False),
                                    "pad", roles.pad))
        else:  # other: a pad (organ, synth pad, choir) and/or a line (stabs or a counter-line)
            if rng.random() < 0.6:
                band.append(_Member(Part("other pad", pick_program(rng, "other", pad=True), False), "pad", roles.pad))
            if rng.random() < 0.4 or band[-1].part.name != "other pad":
                make = roles.stabs if rng.random() < 0.4 else roles.countermelody
                band.append(_Member(Part("other line", pick_program(rng, "other", pad=False), False), "line", make))
    # The melody goes to a lead-capable class of the band.
    carriers = [c for c in ("other", "strings", "guitar", "piano") if c in chosen]
    if carriers and rng.random() < 0.85:
        cls = str(rng.choice(carriers, p=np.array([0.5, 0.2, 0.15, 0.15])[[("other", "strings", "guitar", "piano")
                                                                            .index(c) for c in carriers]] /
                             sum([0.5, 0.2, 0.15, 0.15][("other", "strings", "guitar", "piano").index(c)]
                                 for c in carriers)))
        prog = pick_program(rng, cls, pad=False) if cls == "other" else int(
            rng.choice({"strings": [40, 41, 42, 48], "guitar": [24, 25, 26, 27, 29, 30],
                        "piano": [0, 1, 2, 4, 5]}[cls]))
        band.append(_Member(Part(f"{cls} melody", prog, False), "melody", roles.melody))
    return band


def _schedule(rng: np.random.Generator, band: list[_Member], form: list[tuple[str, int]]) -> None:
    """Decide which sections each member plays in (at least one each, at least two members per section)."""
    for m in band:
        per_kind: dict[str, bool] = {}
        for i, (kind, _) in enumerate(form):
            if kind not in per_kind:  # repeated sections mostly keep their instrumentation
                per_kind[kind] = bool(rng.random() < PRESENCE[m.role][kind])
            plays = per_kind[kind] if rng.random() < 0.85 else not per_kind[kind]
            if plays:
                m.sections.add(i)
                if rng.random() < 0.12 and form[i][1] >= 4:
                    m.late_entry.add(i)
        if not m.sections:
            m.sections.add(int(rng.integers(len(form))))
    for i in range(len(form)):
        playing = [m for m in band if i in m.sections]
        idle = [m for m in band if i not in m.sections]
        while len(playing) < min(2, len(band)) and idle:
            m = idle.pop(int(rng.integers(len(idle))))
            m.sections.add(i)
            playing.append(m)


def arrange(rng: np.random.Generator, cfg: ArrangerConfig = ArrangerConfig()) -> Song:
    """A new procedural song drawn from ``rng``; deterministic for a given generator state."""
    key: Key = random_key(rng)
    names = [m for m, _ in cfg.meters]
    w = np.array([x for _, x in cfg.meters], float)
    meter: Meter = METERS[str(rng.choice(names, p=w / w.sum()))]
    tempo = float(rng.uniform(*cfg.tempo))
    quarters = meter.numerator * 4 / meter.denominator
    bar_seconds = quarters * 60.0 / tempo
    target = float(rng.uniform(*cfg.seconds))
    n_bars = max(2, int(round(target / bar_seconds)))
    form = _form(rng, n_bars)
    groove = choose_groove(rng, meter.name)
    swing = 1 / 3 if groove.name in ("shuffle", "swing", "jazz waltz") else 0.0
    grid = roles.Grid(meter, bar_seconds, n_bars, offset=float(rng.uniform(0.0, 0.5)), swing=swing)

    progressions = {kind: random_progression(rng, key, 8, sevenths=0.35 if swing else 0.15) for kind in SECTIONS}
    chords, kinds, section_of, bar_in_section = [], [], [], []
    for i, (kind, bars) in enumerate(form):
        for j in range(bars):
            chords.append(progressions[kind][j % len(progressions[kind])])
            kinds.append(kind)
            section_of.append(i)
            bar_in_section.append(j)
    if form[-1][0] == "outro" or rng.random() < 0.5:
        chords[-1] = progressions["verse"][0]  # end on the tonic
    intensity = [float(np.clip(SECTIONS[k][0] + rng.normal(0, 0.07), 0.1, 1.0)) for k in kinds]

    band = _band(rng, cfg)
    _schedule(rng, band, form)
    parts = []
    for m in band:
        def plays(b: int) -> bool:
            s = section_of[b]
            return s in m.sections and not (s in m.late_entry and bar_in_section[b] < form[s][1] // 2)

        if m.role == "drums":
            bars = []
            for b in range(n_bars):
                s, j = section_of[b], bar_in_section[b]
                last = j == form[s][1] - 1
                nxt_plays = s + 1 < len(form) and (s + 1) in m.sections
                bars.append(DrumBar(play=plays(b), intensity=intensity[b],
                                    fill=last and nxt_plays and rng.random() < 0.7,
                                    crash=j == 0 and b > 0 and rng.random() < 0.8))
            m.part.notes = drum_notes(rng, groove, [grid.bar_start(b) for b in range(n_bars)], bar_seconds,
                                      bars, meter.beats)
        else:
            assert m.make is not None
            ctx = [roles.BarContext(chords[b], chords[min(b + 1, n_bars - 1)], plays(b), intensity[b])
                   for b in range(n_bars)]
            m.part.notes = m.make(rng, grid, ctx, key)
        if m.part.notes:
            parts.append(m.part)
    return Song(parts, tempo=tempo, source=f"procedural:{key.mode}:{meter.name}:{groove.name}")
