"""Piano rolls <-> notes <-> MIDI. NumPy only: this module never imports torch.

Conventions: frame ``i`` is centred at ``i / frame_rate`` seconds. Pitched classes use 88 rows,
row ``r`` = MIDI pitch ``MIN_PITCH + r``. The drum class uses one row per drum class
(``classes.DRUM_CLASSES``); a drum note's pitch is the GM note of its drum class.
Velocities are MIDI 1-127 in notes and 0-1 in rolls.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .classes import DRUM_CLASS_NOTES, MIN_PITCH, N_KEYS, ClassMap, drum_class_of

# A drum hit has no meaningful offset; labels mark it for this long and exported notes last this long.
DRUM_NOTE_SECONDS = 0.1


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, start and end in seconds, MIDI velocity 1-127."""

    pitch: int
    start: float
    end: float
    velocity: int = 80


# Thresholds of a model that was never tuned.
DEFAULT_ONSET = 0.5
DEFAULT_FRAME = 0.3


@dataclass(frozen=True)
class DecodeOptions:
    """Thresholds for turning transcription probabilities into notes.

    onset_threshold: onset probability a peak must reach to start a note.
    frame_threshold: frame probability below which a sustained note ends.
    min_note_length: notes shorter than this (seconds) are dropped (pitched classes only).
    A threshold of None means "the model's own, tuned per class on the validation split"
    (``stemscribe tune``); ``resolved`` fills it in, falling back to DEFAULT_ONSET/DEFAULT_FRAME.
    """

    onset_threshold: float | None = None
    frame_threshold: float | None = None
    min_note_length: float = 0.05

    def resolved(self, tuned: dict[str, float] | None = None) -> "DecodeOptions":
        """Concrete thresholds: given ones win, then ``tuned`` (a model's per-class values), then defaults."""
        tuned = tuned or {}
        return DecodeOptions(
            self.onset_threshold if self.onset_threshold is not None else tuned.get("onset_threshold", DEFAULT_ONSET),
            self.frame_threshold if self.frame_threshold is not None else tuned.get("frame_threshold", DEFAULT_FRAME),
            self.min_note_length)


def midi_to_hz(pitch: np.ndarray | float) -> np.ndarray:
    """MIDI note number(s) to Hz (A4 = MIDI 69 = 440 Hz), as float64."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def pitch_row(pitch: int, is_drum: bool) -> int | None:
    """Roll row of a MIDI note, or None when it falls outside the class's rows."""
    if is_drum:
        return drum_class_of(pitch)
    r = int(pitch) - MIN_PITCH
    return r if 0 <= r < N_KEYS else None


def row_pitch(row: int, is_drum: bool) -> int:
    """MIDI pitch written for a roll row."""
    return DRUM_CLASS_NOTES[row] if is_drum else MIN_PITCH + int(row)


def notes_to_rolls(notes: Iterable[Note], n_frames: int, frame_rate: float, is_drum: bool,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets from notes.

    Returns ``(frames, onsets, velocities)``, each ``[n_frames, n_rows]`` float32 in 0-1.
    Onsets mark the frame nearest each note start; velocities are set on onset frames.
    """
    n_rows = len(DRUM_CLASS_NOTES) if is_drum else N_KEYS
    frames = np.zeros((n_frames, n_rows), np.float32)
    onsets = np.zeros_like(frames)
    vel = np.zeros_like(frames)
    for n in notes:
        r = pitch_row(n.pitch, is_drum)
        if r is None:
            continue
        a = int(round(n.start * frame_rate))
        end = n.start + DRUM_NOTE_SECONDS if is_drum else n.end
        b = max(a + 1, int(round(end * frame_rate)))
        if a >= n_frames or b <= 0:
            continue
        frames[max(a, 0):min(b, n_frames), r] = 1.0
        if 0 <= a < n_frames:
            onsets[a, r] = 1.0
            vel[a, r] = max(vel[a, r], n.velocity / 127.0)
    return frames, onsets, vel


def rolls_to_notes(frame_prob: np.ndarray, onset_prob: np.ndarray, frame_rate: float, is_drum: bool,
                   velocity: np.ndarray | None = None, options: DecodeOptions = DecodeOptions(),
                   ) -> list[Note]:
    """Decode probabilities ``[n_frames, n_rows]`` into notes (Onsets-and-Frames style).

    A note starts at a local onset-probability peak above ``onset_threshold`` and lasts while the
    frame probability stays above ``frame_threshold``. Drum notes get a fixed length.
    """
    frame_prob = np.asarray(frame_prob, np.float32)
    onset_prob = np.asarray(onset_prob, np.float32)
    if frame_prob.shape != onset_prob.shape or frame_prob.ndim != 2:
        raise ValueError(f"frame and onset rolls must share a 2-D shape, got {frame_prob.shape} and {onset_prob.shape}")
    T, R = onset_prob.shape
    options = options.resolved()
    above = onset_prob >= options.onset_threshold
    prev = np.concatenate([np.zeros((1, R), np.float32), onset_prob[:-1]])
    nxt = np.concatenate([onset_prob[1:], np.zeros((1, R), np.float32)])
    peaks = above & (onset_prob >= prev) & (onset_prob > nxt)
    ts, rs = np.nonzero(peaks)
    vel = (velocity[ts, rs] * 127 if velocity is not None else 40 + 87 * onset_prob[ts, rs])
    vel = np.clip(np.round(vel), 1, 127).astype(int)
    if is_drum:
        return [Note(row_pitch(int(r), True), t / frame_rate, t / frame_rate + DRUM_NOTE_SECONDS, int(v))
                for t, r, v in zip(ts, rs, vel)]
    # A note sustains until the first later frame whose probability drops below the frame
    # threshold or where a new onset peak of the same pitch starts.
    stop = (frame_prob < options.frame_threshold) | peaks
    ends = np.empty(len(ts), np.int64)
    for r in np.unique(rs):
        sel = rs == r
        stops = np.nonzero(stop[:, r])[0]
        k = np.searchsorted(stops, ts[sel] + 1)
        ends[sel] = np.where(k < len(stops), stops[np.minimum(k, len(stops) - 1)], T)
    notes: list[Note] = []
    for t, r, v, e in zip(ts.tolist(), rs.tolist(), vel.tolist(), ends.tolist()):
        start, end = t / frame_rate, e / frame_rate
        if end - start >= options.min_note_length:
            notes.append(Note(row_pitch(r, False), start, end, v))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def notes_to_arrays(notes: Iterable[Note]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(intervals [n, 2] seconds, pitches [n] Hz, velocities [n])`` as mir_eval wants them."""
    notes = list(notes)
    if not notes:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0)
    iv = np.array([[n.start, n.end] for n in notes], float)
    hz = midi_to_hz([n.pitch for n in notes])
    return iv, hz, np.array([n.velocity for n in notes], float)


def read_midi_notes(path: str | Path, class_map: ClassMap | None = None) -> dict[str, list[Note]]:
    """Notes of a MIDI file grouped by instrument class (by GM program / drum flag)."""
    import pretty_midi

    from .classes import DEFAULT_CLASSES

    class_map = class_map or DEFAULT_CLASSES
    pm = pretty_midi.PrettyMIDI(str(path))
    out: dict[str, list[Note]] = {}
    for inst in pm.instruments:
        name = class_map.class_of(inst.program, inst.is_drum)
        if name is None:
            continue
        out.setdefault(name, []).extend(
            Note(n.pitch, float(n.start), float(n.end), int(n.velocity)) for n in inst.notes)
    for v in out.values():
        v.sort(key=lambda n: (n.start, n.pitch))
    return out


def midi_instrument(notes: Iterable[Note], name: str, program: int, is_drum: bool):
    """A pretty_midi Instrument holding the notes (drums go to channel 10 via is_drum)."""
    import pretty_midi

    inst = pretty_midi.Instrument(program=int(program), is_drum=bool(is_drum), name=name)
    for n in notes:
        inst.notes.append(pretty_midi.Note(velocity=int(n.velocity), pitch=int(n.pitch),
                                           start=float(n.start), end=float(max(n.end, n.start + 1e-3))))
    return inst


def write_midi(path: str | Path, notes_by_class: Mapping[str, Iterable[Note]], class_map: ClassMap,
               tempo: float = 120.0) -> None:
    """Write one MIDI file with one track per class (GM program of the class, drums on channel 10)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for name, notes in notes_by_class.items():
        c = class_map[name]
        pm.instruments.append(midi_instrument(notes, name, c.export_program, c.is_drum))
    pm.write(str(path))
