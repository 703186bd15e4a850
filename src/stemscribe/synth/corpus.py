"""The music21 corpus as a source of composed music, and the test partition's reserved pieces.

DESIGN.md, "Data splits": the corpus' Bach chorales and Haydn, Mozart and Beethoven string
quartets are the test partition. Here that means:
  - test: Bach chorales (``bach/bwv*``, not the prelude bwv846 nor the Roman-numeral analyses),
    all of ``haydn/`` and ``beethoven/`` (every file there is a string quartet), and Mozart's
    quartets K. 80, 155, 156 and 458;
  - never train or validation: all of ``bach/``, ``haydn/``, ``beethoven/`` and those Mozart
    quartets (the whole Bach folder, to be safe);
  - train and validation share the rest (Palestrina, Monteverdi, the trecento, Josquin, Schumann,
    Mozart's sonata K. 545, ...), split by a hash of the file name: one piece in ten is validation.
Single-line tune collections (ABC folk books), analyses and demo files are not used.

An excerpt of a piece becomes a :class:`ScoreExcerpt` (voices as notes in seconds, the chordified
harmony, bar starts, meter and tempo); ``classical.py`` arranges it onto instrument classes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..notes import Note

RESERVED_FOLDERS = ("bach", "haydn", "beethoven")
RESERVED_MOZART = ("mozart/k80/", "mozart/k155/", "mozart/k156/", "mozart/k458/")
# Not music for a band: monophonic tune books, harmonic analyses, notation demos.
SKIPPED_FOLDERS = ("ryansMammoth", "essenFolksong", "oneills1850", "airdsAirs", "nottingham-dataset",
                   "miscFolk", "demos", "theoryExercises", "leadSheet")
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid")
VALIDATION_SHARE = 10  # one file in ten (by name hash) is validation


class CorpusError(RuntimeError):
    """A corpus piece cannot be used (the message names it)."""


def is_reserved(rel: str) -> bool:
    """Whether a corpus path (relative, e.g. "bach/bwv66.6.mxl") belongs to the test partition's
    composers/collections and so may never be used by train or validation."""
    rel = rel.replace("\\", "/")
    return rel.split("/", 1)[0] in RESERVED_FOLDERS or rel.startswith(RESERVED_MOZART)


def is_test_piece(rel: str) -> bool:
    """Whether a corpus path is one of the test split's pieces (a chorale or a quartet movement)."""
    rel = rel.replace("\\", "/")
    if rel.startswith("bach/"):
        return re.fullmatch(r"bach/bwv\d+(\.\d+)?[^/]*\.mxl", rel) is not None and not rel.startswith("bach/bwv846")
    return is_reserved(rel) and rel.endswith(".mxl")


def hash_share(name: str, share: int = VALIDATION_SHARE) -> bool:
    """True for the one-in-``share`` names that belong to validation (stable across machines)."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % share == 0


@lru_cache(maxsize=1)
def _corpus_paths() -> tuple[str, ...]:
    from music21 import corpus

    out = []
    for p in corpus.getCorePaths():
        s = str(p).replace("\\", "/")
        rel = s.split("/corpus/", 1)[1] if "/corpus/" in s else s
        out.append(rel)
    return tuple(sorted(out))


def corpus_pool(split: str) -> list[str]:
    """Corpus paths a split may draw from (sorted). Test: only the reserved pieces; train and
    validation: the unreserved pieces, split one in ten by name hash."""
    paths = _corpus_paths()
    if split == "test":
        return [p for p in paths if is_test_piece(p)]
    usable = [p for p in paths if not is_reserved(p) and p.split("/", 1)[0] not in SKIPPED_FOLDERS
              and p.endswith(SCORE_SUFFIXES)]
    want_validation = split == "validation"
    return [p for p in usable if hash_share(p) == want_validation]


def check_pieces(split: str, pieces: list[str]) -> None:
    """Enforce the test-partition rule for corpus pieces: raises CorpusError when broken."""
    if split == "test":
        bad = [p for p in pieces if not is_test_piece(p)]
        if bad:
            raise CorpusError(f"the test split uses only the reserved chorales and quartets, not {', '.join(bad)}")
    else:
        bad = [p for p in pieces if is_reserved(p)]
        if bad:
            raise CorpusError(f"the {split} split may not use the test-partition pieces {', '.join(bad)}")


@dataclass(frozen=True)
class ScoreExcerpt:
    """An excerpt of a piece in seconds.

    voices: one note list per score part, ordered from the highest to the lowest part (by median pitch).
    harmony: chordified harmony, (start s, end s, MIDI pitches) per vertical sonority.
    bar_starts: seconds of each bar start. bar_quarters: quarter notes per bar.
    meter: (numerator, denominator) of the first time signature. tempo: quarter-note BPM.
    """

    name: str
    voices: list[list[Note]]
    harmony: list[tuple[float, float, tuple[int, ...]]]
    bar_starts: list[float]
    bar_quarters: float
    meter: tuple[int, int]
    tempo: float


def _parse(rel: str):
    import warnings

    from music21 import corpus, stream

    try:
        with warnings.catch_warnings():  # music21 warns about every overfull bar of old editions
            warnings.simplefilter("ignore")
            s = corpus.parse(rel)
    except Exception as e:  # music21 raises many types for files it cannot read
        raise CorpusError(f"music21 corpus piece {rel} cannot be parsed ({type(e).__name__}: {e})") from None
    if isinstance(s, stream.Opus):
        s = s.scores[0] if s.scores else None
    if s is None or not s.parts:
        raise CorpusError(f"music21 corpus piece {rel} has no parts")
    return s


def load_excerpt(rel: str, rng: np.random.Generator, seconds: float, tempo_range: tuple[float, float],
                 velocity: int = 80) -> ScoreExcerpt:
    """A random excerpt of about ``seconds`` (whole bars) of corpus piece ``rel``.

    The tempo is the piece's first metronome mark when it has one, else drawn from ``tempo_range``
    (quarter-note BPM); dynamics become per-voice velocities around ``velocity`` with phrase-level drift.
    """
    score = _parse(rel)
    ts = score.recurse().getElementsByClass("TimeSignature").first()
    meter = (int(ts.numerator), int(ts.denominator)) if ts is not None else (4, 4)
    mm = score.recurse().getElementsByClass("MetronomeMark").first()
    tempo = float(mm.getQuarterBPM()) if mm is not None and mm.getQuarterBPM() else float(rng.uniform(*tempo_range))
    tempo = float(np.clip(tempo, 40, 200))
    measures = list(score.parts[0].getElementsByClass("Measure"))
    if not measures:
        raise CorpusError(f"music21 corpus piece {rel} has no measures")
    offsets = [float(m.offset) for m in measures] + [float(score.parts[0].highestTime)]
    window_q = seconds * tempo / 60.0
    last_start = max(0, max((i for i, o in enumerate(offsets[:-1]) if offsets[-1] - o >= window_q), default=0))
    first = int(rng.integers(last_start + 1))
    end = next((i for i in range(first + 1, len(offsets)) if offsets[i] - offsets[first] >= window_q), len(measures))
    excerpt = score.measures(first, max(first, end - 1), indicesNotNumbers=True).stripTies()
    q = 60.0 / tempo

    def notes_of(part) -> list[Note]:
        out, vel = [], velocity + int(rng.integers(-10, 11))
        for el in part.flatten().notes:
            dur = float(el.quarterLength)
            if dur <= 0:
                continue  # grace notes
            if rng.random() < 0.05:
                vel = int(np.clip(vel + rng.integers(-12, 13), 45, 115))
            start = float(el.offset) * q
            for p in el.pitches:
                out.append(Note(int(p.midi), start, start + dur * q * 0.97, int(np.clip(vel + rng.integers(-6, 7), 1, 127))))
        return sorted(out, key=lambda n: (n.start, n.pitch))

    voices = [v for v in (notes_of(p) for p in excerpt.parts) if v]
    if not voices:
        raise CorpusError(f"music21 corpus piece {rel} has no notes in bars {first + 1}-{end}")
    voices.sort(key=lambda v: -float(np.median([n.pitch for n in v])))
    harmony = []
    for ch in excerpt.chordify().flatten().notes:
        dur = float(ch.quarterLength)
        if dur > 0:
            harmony.append((float(ch.offset) * q, (float(ch.offset) + dur) * q, tuple(sorted(int(p.midi) for p in ch.pitches))))
    bar_quarters = float(ts.barDuration.quarterLength) if ts is not None else 4.0
    ex_measures = list(excerpt.parts[0].getElementsByClass("Measure"))
    bar_starts = [float(m.offset) * q for m in ex_measures]
    if ex_measures and float(ex_measures[0].duration.quarterLength) < bar_quarters - 1e-6:
        bar_starts = bar_starts[1:]  # a pickup bar: the drums come in on the first full bar
    return ScoreExcerpt(rel, voices, harmony, bar_starts, bar_quarters, meter, tempo)
