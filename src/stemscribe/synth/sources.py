"""Where a track's notes come from: the procedural arranger, a folder of MIDI files, or the
music21 corpus; and which of them each split may use.

- train: procedural songs, unreserved corpus pieces and (with ``--midi-dir``) the user's MIDI
  files, nine in ten of them by file-name hash;
- validation: the same kinds, drawn from a disjoint seed space, and the other tenth of the
  corpus pieces and MIDI files;
- test: only the reserved corpus pieces (chorales, quartets), arranged for piano, guitar, bass,
  drums and strings (``classical.arrange_test``).
Train and validation may arrange their own corpus pieces in that same five-part ensemble
(``ensemble``): the arrangement is a rendering procedure, not test data; the pieces stay disjoint.
A MIDI file that cannot be read is skipped with a warning naming it, and another file is drawn;
when no file can be read, the error names the files tried.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arranger import ALL_CLASSES, ArrangerConfig, arrange
from .classical import TEST_CLASSES, arrange_free, arrange_test
from .corpus import CorpusError, check_pieces, corpus_pool, hash_share, load_excerpt
from .song import CLASS_PROGRAMS, Part, Song, clip_song, fit_ranges, pick_program

SOURCES: tuple[str, ...] = ("procedural", "midi", "corpus", "mix")
MIDI_SUFFIXES = (".mid", ".midi", ".kar")
# Default shares of a "mix" (renormalised over the sources available to the split).
MIX_WEIGHTS: dict[str, float] = {"procedural": 0.6, "corpus": 0.2, "midi": 0.4}
MAX_TRIES = 20


class SourceError(RuntimeError):
    """A source cannot supply music (empty or unreadable MIDI folder, a source the split forbids)."""


def find_midi_files(folder: Path) -> list[Path]:
    """MIDI files below ``folder`` (sorted). Raises SourceError if the folder is missing or has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder (--midi-dir takes a folder of MIDI files)")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise SourceError(f"{folder}: no MIDI files (.mid, .midi, .kar) found in this folder")
    return files


def split_midi_files(files: list[Path], root: Path, split: str) -> list[Path]:
    """The user's MIDI files a split draws from: one in ten (by relative-path hash) is validation."""
    want_validation = split == "validation"
    return [f for f in files if hash_share(str(f.relative_to(root))) == want_validation]


def read_midi_song(path: Path) -> Song:
    """All instrument parts of a MIDI file as a Song (GM program and drum flag from the file).

    Raises SourceError naming the file when it cannot be read or has no notes."""
    import pretty_midi

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # pretty_midi/mido raise many types on corrupt files
        raise SourceError(f"{path}: cannot be read as a MIDI file ({type(e).__name__}: {e})") from None
    from ..notes import Note

    def name(inst) -> str:
        return "drums" if inst.is_drum else inst.name or pretty_midi.program_to_instrument_name(inst.program)

    parts = [Part(name(inst), int(inst.program), bool(inst.is_drum),
                  [Note(int(n.pitch), float(n.start), float(n.end), int(n.velocity)) for n in inst.notes])
             for inst in pm.instruments if inst.notes]
    if not parts:
        raise SourceError(f"{path}: the MIDI file has no notes")
    _, tempi = pm.get_tempo_changes()
    return Song(parts, tempo=float(tempi[0]) if len(tempi) else 120.0, source=f"midi:{path.name}")


@dataclass(frozen=True)
class SourcePlan:
    """What a split draws from; built once per run, passed to every track job.

    weights: source name -> share of tracks. midi_files / pieces: the split's candidates.
    classes: classes tracks may use (None: all). seconds: (min, max) music length per track.
    ensemble: corpus pieces are arranged as the test split arranges its pieces
        (``classical.arrange_test``); always true for the test split.
    """

    split: str
    weights: tuple[tuple[str, float], ...]
    midi_files: tuple[Path, ...] = ()
    pieces: tuple[str, ...] = ()
    classes: tuple[str, ...] | None = None
    seconds: tuple[float, float] = (30.0, 60.0)
    ensemble: bool = False


def plan_sources(split: str, source: str | None, midi_dir: Path | None, classes: tuple[str, ...] | None,
                 seconds: tuple[float, float], ensemble: bool = False) -> SourcePlan:
    """Check the request against the split rules and list the candidates. Raises SourceError."""
    if source is not None and source not in SOURCES:
        raise SourceError(f"unknown source {source!r}; use {', '.join(SOURCES)}")
    if ensemble and split != "test" and source != "corpus":
        raise SourceError("--ensemble arranges corpus pieces; use it with --source corpus")
    if (ensemble or split == "test") and classes is not None and any(c not in TEST_CLASSES for c in classes):
        what = "the test split" if split == "test" else "the ensemble"
        raise SourceError(f"{what} has only {', '.join(TEST_CLASSES)}; --classes {','.join(classes)} asks for more")
    if split == "test":
        if source not in (None, "corpus"):
            raise SourceError(f"the test split renders only the reserved corpus pieces, not source {source!r}")
        if midi_dir is not None:
            raise SourceError("the test split renders only the reserved corpus pieces; drop --midi-dir")
        pieces = corpus_pool("test")
        check_pieces("test", pieces)
        return SourcePlan(split, (("corpus", 1.0),), (), tuple(pieces), classes, seconds, ensemble=True)
    if source == "midi" and midi_dir is None:
        raise SourceError("--source midi needs --midi-dir DIR")
    files: list[Path] = []
    if midi_dir is not None:
        files = split_midi_files(find_midi_files(midi_dir), Path(midi_dir), split)
        if not files:
            raise SourceError(f"{midi_dir}: none of its MIDI files falls in the {split} share (one in ten by "
                              f"file name goes to validation); add files or use another source")
    pieces = corpus_pool(split)
    check_pieces(split, pieces)
    if source in ("procedural", "midi", "corpus"):
        weights: tuple[tuple[str, float], ...] = ((source, 1.0),)
    else:
        names = ["procedural", "corpus"] + (["midi"] if files else [])
        weights = tuple((n, MIX_WEIGHTS[n]) for n in names)
    return SourcePlan(split, weights, tuple(files) if any(n == "midi" for n, _ in weights) else (),
                      tuple(pieces), classes, seconds, ensemble=ensemble)


def _warn(message: str) -> None:
    print(f"stemscribe synth: warning: {message}", file=sys.stderr)


def _midi_song(rng: np.random.Generator, plan: SourcePlan, length: float) -> Song:
    tried: list[str] = []
    order = rng.permutation(len(plan.midi_files))[:MAX_TRIES]  # distinct files, in random order
    for k in order:
        path = plan.midi_files[int(k)]
        try:
            song = read_midi_song(path)
        except SourceError as e:
            if len(plan.midi_files) == 1:
                raise
            _warn(f"{e}; skipped")
            tried.append(path.name)
            continue
        if plan.classes is not None:
            song = Song([p for p in song.parts if p.cls in plan.classes], song.tempo, song.source)
        # Re-draw about half the programs within their class, as Slakh re-renders with random patches.
        parts = []
        for p in song.parts:
            prog = p.program
            if rng.random() < 0.5:
                prog = pick_program(rng, "drums") if p.is_drum else (
                    int(rng.choice(CLASS_PROGRAMS[p.cls])) if p.cls in CLASS_PROGRAMS else p.program)
            parts.append(Part(p.name, prog, p.is_drum, p.notes))
        song = Song(parts, song.tempo, song.source)
        start = float(rng.uniform(0.0, max(0.0, song.duration - length)))
        first = min((n.start for p in song.parts for n in p.notes if n.start >= start), default=start)
        clipped = clip_song(song, first, length)
        if clipped.parts:
            return clipped
        tried.append(path.name)
    raise SourceError(f"no usable MIDI file among those tried ({', '.join(sorted(set(tried)))}): unreadable, "
                      f"or no notes of the requested classes")


def _corpus_song(rng: np.random.Generator, plan: SourcePlan, length: float) -> Song:
    if plan.split == "test":
        # Half chorales, half quartet movements, whatever their counts.
        chorales = [p for p in plan.pieces if p.startswith("bach/")]
        quartets = [p for p in plan.pieces if not p.startswith("bach/")]
        pool = chorales if (rng.random() < 0.5 and chorales) or not quartets else quartets
    else:
        folders = sorted({p.split("/", 1)[0] for p in plan.pieces})
        folder = folders[int(rng.integers(len(folders)))]  # composers/collections equally often
        pool = [p for p in plan.pieces if p.split("/", 1)[0] == folder]
    tried = []
    for attempt in range(MAX_TRIES):
        if attempt == MAX_TRIES // 2:
            # Some collections parse without measures (the Josquin ABC files): widen to every piece.
            pool = list(plan.pieces)
        rel = pool[int(rng.integers(len(pool)))]
        tempo = (66.0, 96.0) if rel.startswith("bach/") else (72.0, 140.0)
        try:
            ex = load_excerpt(rel, rng, length, tempo)
        except CorpusError as e:
            _warn(f"{e}; skipped")
            tried.append(rel)
            continue
        if plan.ensemble:
            song = arrange_test(rng, ex, plan.classes or TEST_CLASSES)
            # Outside the test split a piece with too few voices for the whole ensemble (a folk
            # tune, a two-part invention) is redrawn, so that every track has every part.
            wanted = set(plan.classes or TEST_CLASSES)
            if plan.split != "test" and {p.cls for p in song.parts} < wanted and attempt + 1 < MAX_TRIES:
                tried.append(rel)
                continue
        else:
            song = arrange_free(rng, ex, plan.classes or ALL_CLASSES)
        if song.parts:
            return song
        tried.append(rel)
    raise SourceError(f"no usable corpus piece among those tried ({', '.join(tried)})")


def make_song(rng: np.random.Generator, plan: SourcePlan) -> Song:
    """The notes of one track, drawn from ``rng`` according to ``plan``, every part inside its
    instrument's range."""
    return fit_ranges(_draw_song(rng, plan))


def _draw_song(rng: np.random.Generator, plan: SourcePlan) -> Song:
    names = [n for n, _ in plan.weights]
    w = np.array([x for _, x in plan.weights], float)
    source = str(rng.choice(names, p=w / w.sum()))
    length = float(rng.uniform(*plan.seconds))
    if source == "procedural":
        cfg = ArrangerConfig(classes=plan.classes or ALL_CLASSES, require_all=plan.classes is not None,
                             seconds=(length, length))
        return arrange(rng, cfg)
    if source == "midi":
        return _midi_song(rng, plan, length)
    return _corpus_song(rng, plan, length)
