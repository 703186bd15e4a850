"""The song model every MIDI source produces and the renderer consumes.

A :class:`Song` is a list of :class:`Part` (one part = one stem = one MIDI file), each with a
GM program, a drum flag, its stemscribe class and its notes in seconds. Sources (procedural
arranger, MIDI folder, music21 corpus) build songs; ``render.py`` turns each part into audio.

The GM program families each class draws from live here too, so every source picks
instruments the same way (DESIGN.md, "Instrument classes of the default model").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..classes import DEFAULT_CLASSES
from ..notes import Note

# Programs (0-based GM) a source may pick for each class. Narrower than the class map on purpose:
# the class map says what a program *is*; these say what sounds idiomatic for the role.
CLASS_PROGRAMS: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 3, 4, 5, 6, 7),
    "guitar": (24, 25, 26, 27, 28, 29, 30, 31),
    "bass": (32, 33, 34, 35, 36, 37, 38, 39),
    "strings": (40, 41, 42, 44, 45, 48, 49, 50, 51),
    # organ, brass, reeds, pipes, synth leads, synth pads, chromatic percussion, harp, choir
    "other": (8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 21, 22, 46, 52, 53, 56, 57, 58, 60, 61, 62, 63,
              64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 80, 81, 82, 83, 84, 85, 87, 88, 89,
              90, 91, 92, 94, 95),
}
# Sustained "other" programs suit pads and long notes; the rest suit lines and riffs.
OTHER_PAD_PROGRAMS: tuple[int, ...] = (16, 17, 18, 19, 21, 52, 53, 61, 88, 89, 90, 91, 94, 95)
# GM drum kits (bank 128 presets); a soundfont lacking one falls back to kit 0 at render time.
DRUM_KITS: tuple[int, ...] = (0, 0, 0, 8, 16, 24, 25, 32, 40)

# Playable MIDI pitch range of GM programs (lowest, highest), where an instrument's range is narrower
# than the default of its class; the GM soundfonts have no samples far outside these, so notes
# there would be labelled but silent.
CLASS_RANGES: dict[str, tuple[int, int]] = {
    "piano": (21, 108), "guitar": (40, 88), "bass": (28, 67), "strings": (36, 96), "other": (36, 96),
}
PROGRAM_RANGES: dict[int, tuple[int, int]] = {
    8: (60, 108), 9: (60, 108), 10: (60, 96), 11: (48, 96), 12: (48, 96), 13: (60, 96),
    28: (40, 83), 31: (40, 86), 40: (55, 100), 41: (48, 88), 42: (36, 76), 45: (36, 96), 46: (24, 103), 52: (48, 84), 53: (48, 84),
    56: (54, 84), 57: (40, 72), 58: (28, 58), 60: (41, 77), 61: (40, 84),
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69), 68: (58, 91), 69: (52, 81), 70: (34, 72), 71: (50, 91),
    72: (74, 102), 73: (60, 96), 74: (60, 96), 75: (60, 96),
}


def program_range(program: int, is_drum: bool = False) -> tuple[int, int]:
    """(lowest, highest) MIDI pitch a GM program plays well (all 0-127 for drums)."""
    if is_drum:
        return 0, 127
    if program in PROGRAM_RANGES:
        return PROGRAM_RANGES[program]
    cls = DEFAULT_CLASSES.class_of(program, False) or "other"
    return CLASS_RANGES.get(cls, CLASS_RANGES["other"])


# GM family names as Slakh2100 writes them into metadata.yaml's inst_class.
_GM_FAMILIES = ("Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings",
                "Strings (continued)", "Brass", "Reed", "Pipe", "Synth Lead", "Synth Pad",
                "Synth Effects", "Ethnic", "Percussive", "Sound Effects")


def gm_family(program: int, is_drum: bool) -> str:
    """Slakh-style ``inst_class`` of a part: the GM family name, or "Drums"."""
    return "Drums" if is_drum else _GM_FAMILIES[int(program) // 8]


def program_name(program: int, is_drum: bool) -> str:
    """Slakh-style ``midi_program_name`` of a part."""
    import pretty_midi

    return "Drums" if is_drum else pretty_midi.program_to_instrument_name(int(program))


def pick_program(rng: np.random.Generator, cls: str, pad: bool | None = None) -> int:
    """A random GM program of class ``cls``; for "other", ``pad`` picks sustained (True) or line sounds."""
    if cls == "drums":
        return int(rng.choice(DRUM_KITS))
    if cls == "other" and pad is not None:
        pool = [p for p in CLASS_PROGRAMS["other"] if (p in OTHER_PAD_PROGRAMS) == pad]
        return int(rng.choice(pool))
    return int(rng.choice(CLASS_PROGRAMS[cls]))


@dataclass
class Part:
    """One instrument part: one stem and one MIDI file of a track.

    name: a readable role ("bass", "piano comp", "violin 1", ...), written as the MIDI track name.
    program: 0-based GM program (the drum kit for drum parts).
    notes: start/end in seconds from the start of the song.
    """

    name: str
    program: int
    is_drum: bool
    notes: list[Note] = field(default_factory=list)

    @property
    def cls(self) -> str:
        """The stemscribe class of the part in the default class map."""
        name = DEFAULT_CLASSES.class_of(self.program, self.is_drum)
        assert name is not None  # the default map has a catch-all class
        return name

    @property
    def end(self) -> float:
        """Seconds at which the last note ends (0 for an empty part)."""
        return max((n.end for n in self.notes), default=0.0)


@dataclass
class Song:
    """A multi-part song in seconds, ready to render.

    tempo: initial tempo in BPM written into the MIDI files (note times are in seconds anyway).
    source: where the song came from ("procedural", "midi:<file>", "corpus:<piece>").
    """

    parts: list[Part]
    tempo: float = 120.0
    source: str = "procedural"

    @property
    def duration(self) -> float:
        """Seconds until the last note ends."""
        return max((p.end for p in self.parts), default=0.0)

    def classes(self) -> list[str]:
        """The distinct classes of the song's parts, in part order."""
        seen: list[str] = []
        for p in self.parts:
            if p.cls not in seen:
                seen.append(p.cls)
        return seen


def fit_ranges(song: Song) -> Song:
    """Each pitched part moved by octaves so its median pitch sits inside its program's range,
    then notes still outside the range dropped (they would be silent, yet labelled); parts left
    empty are dropped."""
    parts = []
    for p in song.parts:
        if p.is_drum or not p.notes:
            if p.notes:
                parts.append(p)
            continue
        lo, hi = program_range(p.program)
        med = float(np.median([n.pitch for n in p.notes]))
        shift = 0
        while med + shift > hi - 6 and med + shift - 12 >= lo:
            shift -= 12
        while med + shift < lo + 6 and med + shift + 12 <= hi:
            shift += 12
        notes = [Note(n.pitch + shift, n.start, n.end, n.velocity) for n in p.notes if lo <= n.pitch + shift <= hi]
        if notes:
            parts.append(Part(p.name, p.program, p.is_drum, notes))
    return Song(parts, song.tempo, song.source)


def clip_song(song: Song, start: float, seconds: float) -> Song:
    """The excerpt ``[start, start + seconds)`` of a song, shifted to start at 0.

    Notes that start inside the window are kept (their ends cut at the window's end); parts left
    without notes are dropped.
    """
    end = start + seconds
    parts = []
    for p in song.parts:
        notes = [Note(n.pitch, n.start - start, min(n.end, end) - start, n.velocity)
                 for n in p.notes if start <= n.start < end and min(n.end, end) > n.start]
        if notes:
            parts.append(Part(p.name, p.program, p.is_drum, notes))
    return Song(parts, song.tempo, song.source)
