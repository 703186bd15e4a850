"""The instrument class map: General MIDI programs -> stemscribe classes.

The map is data. A model stores the table it was trained with in its config, so a
checkpoint trained on other classes still decodes correctly. Programs are 0-based GM
program numbers; drums are any part flagged ``is_drum`` (MIDI channel 10).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Pitched transcription covers the 88 piano keys, A0 (MIDI 21) to C8 (MIDI 108).
MIN_PITCH = 21
N_KEYS = 88

# Drum transcription works on five drum classes; each GM drum note maps to at most one.
# Notes not listed (tambourine, cowbell, latin percussion, ...) are not transcribed.
DRUM_CLASSES: tuple[str, ...] = ("kick", "snare", "hihat", "toms", "cymbals")
GM_DRUM_MAP: dict[int, int] = {
    35: 0, 36: 0,                                   # kick
    37: 1, 38: 1, 39: 1, 40: 1,                     # snare, side stick, clap
    42: 2, 44: 2, 46: 2,                            # closed, pedal, open hi-hat
    41: 3, 43: 3, 45: 3, 47: 3, 48: 3, 50: 3,       # toms
    49: 4, 51: 4, 52: 4, 53: 4, 55: 4, 57: 4, 59: 4,  # crash, ride, china, splash
}
# The GM note written to MIDI for each drum class when transcriptions are exported.
DRUM_CLASS_NOTES: tuple[int, ...] = (36, 38, 42, 45, 49)


@dataclass(frozen=True)
class InstrumentClass:
    """One output class of a model.

    name: stem name (file stem of the outputs).
    programs: 0-based GM programs that belong to the class (empty for drums and for the
        catch-all class).
    is_drum: True for the class that takes every channel-10 part.
    catch_all: True for the class that takes every program no other class claims.
    export_program: GM program used when this class's transcription is written to MIDI.
    """

    name: str
    programs: tuple[int, ...] = ()
    is_drum: bool = False
    catch_all: bool = False
    export_program: int = 0

    @property
    def n_pitches(self) -> int:
        """Transcription rows: 88 keys for pitched classes, the drum classes for drums."""
        return len(DRUM_CLASSES) if self.is_drum else N_KEYS


@dataclass(frozen=True)
class ClassMap:
    """An ordered set of instrument classes with GM lookup."""

    classes: tuple[InstrumentClass, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.classes]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate class names in class map: {names}")
        if sum(c.is_drum for c in self.classes) > 1:
            raise ValueError("a class map may have at most one drum class")
        if sum(c.catch_all for c in self.classes) > 1:
            raise ValueError("a class map may have at most one catch-all class")
        claimed: dict[int, str] = {}
        for c in self.classes:
            for p in c.programs:
                if not 0 <= p <= 127:
                    raise ValueError(f"class {c.name!r}: program {p} outside 0-127")
                if p in claimed:
                    raise ValueError(f"program {p} claimed by both {claimed[p]!r} and {c.name!r}")
                claimed[p] = c.name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, name: str) -> InstrumentClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(f"unknown instrument class {name!r}; known: {', '.join(self.names)}")

    def index(self, name: str) -> int:
        return self.names.index(self[name].name)

    def class_of(self, program: int, is_drum: bool = False) -> str | None:
        """The class name of a GM part, or None when the map has no class for it."""
        for c in self.classes:
            if is_drum and c.is_drum:
                return c.name
            if not is_drum and program in c.programs:
                return c.name
        if not is_drum:
            for c in self.classes:
                if c.catch_all:
                    return c.name
        return None

    def to_dict(self) -> list[dict]:
        return [asdict(c) for c in self.classes]

    @classmethod
    def from_dict(cls, rows: list[dict]) -> "ClassMap":
        return cls(tuple(InstrumentClass(**{**r, "programs": tuple(r.get("programs", ()))}) for r in rows))


DEFAULT_CLASSES = ClassMap((
    InstrumentClass("piano", tuple(range(0, 8)), export_program=0),
    InstrumentClass("guitar", tuple(range(24, 32)), export_program=25),
    InstrumentClass("bass", tuple(range(32, 40)), export_program=33),
    InstrumentClass("drums", is_drum=True, export_program=0),
    InstrumentClass("strings", tuple(range(40, 46)) + tuple(range(48, 52)), export_program=48),
    InstrumentClass("other", catch_all=True, export_program=80),
))

# The instrument sets of the Cerberus paper, smallest first (evaluation uses these).
PAPER_SETS: dict[int, tuple[str, ...]] = {
    2: ("piano", "guitar"),
    3: ("piano", "guitar", "bass"),
    4: ("piano", "guitar", "bass", "drums"),
    5: ("piano", "guitar", "bass", "drums", "strings"),
}


def drum_class_of(note: int) -> int | None:
    """Index into DRUM_CLASSES of a GM drum note, or None if it is not transcribed."""
    return GM_DRUM_MAP.get(int(note))
