"""Experiment: where does each pitched class's note-onset F1 go on a validation set?

    python scripts/experiments/onset_anatomy.py MODEL data/val5     # a registry name or a checkpoint

Separates and transcribes each track's 5-instrument mixture (piano, guitar, bass, drums,
strings; tracks lacking one are skipped) with the given model and its stored tuning, and pools the
mir_eval note matches over all tracks. For each pitched class it reports precision / recall / F1
of onsets (50 ms, 50 cents) under relaxations that each forgive one kind of error:

- ``std``: the metric as evaluated;
- ``octave``: pitches folded to pitch classes (octave errors forgiven);
- ``tol100``: 100 ms onset tolerance (timing errors forgiven);
- ``semitone``: 150 cents pitch tolerance (neighbour-key errors forgiven);
- ``ref_vs_any_est``: the class's reference notes against every class's estimated notes (recall
  then counts a note found, whichever class it was written to);
- ``any_ref_vs_est``: every class's reference notes against the class's estimates (precision then
  counts a note some instrument really plays).

It also reports, per class, the recall of reference notes that repeat the pitch of a note ending
less than ``REPEAT_GAP`` seconds before them (a re-struck note, with no silence between) and of
all other reference notes.

Measured 2026-12-02 on the 2-core CPU with segment 11's shipped model on data/val5 (20 tracks;
`git show 17134c6:src/stemscribe/weights/default.pt > runs/s11_shipped.pt`, MODEL runs/s11_shipped.pt):

| class | std F1 | octave | tol100 | semitone | recall vs any est | precision vs any ref |
|---|---|---|---|---|---|---|
| piano | .710 | .724 | .713 | .713 | .766 (own .744) | .771 (own .680) |
| guitar | .527 | .604 | .530 | .527 | .889 (own .588) | .755 (own .477) |
| bass | .526 | .585 | .527 | .526 | .716 (own .527) | .823 (own .524) |
| strings | .379 | .389 | .383 | .384 | .715 (own .456) | .807 (own .324) |

Timing and neighbour-key errors cost nothing; octave errors cost bass and guitar .06-.08. The
bulk is attribution: most of the notes a class writes are notes of the mixture, but of another
instrument, and most of the notes it misses were written to another class. (A monophonic decoding
of bass and strings, one note per onset, keeping the most probable or the lowest, was also tried
on the pooled validation + val5 tracks and lost .01-.06 F1; not adopted.)
"""
from __future__ import annotations

import dataclasses
import sys

import mir_eval
import numpy as np
import torch

from stemscribe import Separator
from stemscribe.classes import PAPER_SETS
from stemscribe.data.slakh import find_tracks
from stemscribe.evaluate.metrics import _arrays
from stemscribe.evaluate.runner import _sum_padded, crop_notes

FIVE = PAPER_SETS[5]
PITCHED = [c for c in FIVE if c != "drums"]
MODES = ("std", "octave", "tol100", "semitone", "ref_vs_any_est", "any_ref_vs_est")
REPEAT_GAP = 0.06


def is_repeat(notes, i: int) -> bool:
    """Whether ``notes[i]`` (sorted by start) re-strikes the pitch of a note ending < REPEAT_GAP before it."""
    n = notes[i]
    return any(m.pitch == n.pitch and m.start < n.start and 0 <= n.start - m.end < REPEAT_GAP
               for m in notes[max(0, i - 8):i])


def fold_to_octave(notes):
    """The notes moved into the octave from middle C, keeping their pitch class."""
    return [dataclasses.replace(n, pitch=n.pitch % 12 + 60) for n in notes]


def matched(ref, est, tol: float = 0.05, cents: float = 50.0, octave: bool = False) -> list[tuple[int, int]]:
    """mir_eval's (reference index, estimate index) onset matches."""
    if not ref or not est:
        return []
    if octave:
        ref, est = fold_to_octave(ref), fold_to_octave(est)
    ri, rp = _arrays(ref)
    ei, ep = _arrays(est)
    return mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=tol, offset_ratio=None,
                                              pitch_tolerance=cents)


def matches(ref, est, **kw) -> int:
    return len(matched(ref, est, **kw))


def main(model: str, data: str) -> None:
    torch.set_num_threads(1)
    sep = Separator(model, device="cpu")
    counts = {c: {m: [0, 0, 0] for m in MODES} for c in PITCHED}    # hits, reference notes, estimates
    repeats = {c: {"repeat": [0, 0], "other": [0, 0]} for c in PITCHED}   # hits, reference notes
    for track in find_tracks(data):
        present = track.class_stems(sep.class_map)
        if not all(c in present for c in FIVE):
            continue
        audio = {c: _sum_padded([track.load_stem(k) for k in present[c]]) for c in FIVE}
        n, sr = min(a.size for a in audio.values()), track.sample_rate()
        mix = np.sum([audio[c][:n] for c in FIVE], axis=0).astype(np.float32)
        result = sep.separate(mix[None], sr)
        notes = track.class_notes(sep.class_map)
        refs = {c: crop_notes(notes.get(c, []), n / sr) for c in PITCHED}
        any_est = [x for c in PITCHED for x in result.notes[c]]
        any_ref = [x for c in PITCHED for x in refs[c]]
        for c in PITCHED:
            ref, est = refs[c], result.notes[c]
            std = matched(ref, est)
            hit = {i for i, _ in std}
            for i in range(len(ref)):
                acc = repeats[c]["repeat" if is_repeat(ref, i) else "other"]
                acc[0] += i in hit
                acc[1] += 1
            cases = {"std": (ref, est, {}), "octave": (ref, est, {"octave": True}),
                     "tol100": (ref, est, {"tol": 0.1}), "semitone": (ref, est, {"cents": 150.0}),
                     "ref_vs_any_est": (ref, any_est, {}), "any_ref_vs_est": (any_ref, est, {})}
            for m, (r, e, kw) in cases.items():
                acc = counts[c][m]
                acc[0] += len(std) if m == "std" else matches(r, e, **kw)
                acc[1] += len(r)
                acc[2] += len(e)
    for c in PITCHED:
        cells = []
        for m in MODES:
            hits, n_ref, n_est = counts[c][m]
            p, r = hits / max(n_est, 1), hits / max(n_ref, 1)
            cells.append(f"{m}: P {p:.3f} R {r:.3f} F {2 * p * r / max(p + r, 1e-9):.3f}")
        print(f"{c} | " + " | ".join(cells))
    for c in PITCHED:
        (rh, rn), (oh, on) = repeats[c]["repeat"], repeats[c]["other"]
        print(f"{c} | recall of repeated-pitch notes {rh}/{rn} = {rh / max(rn, 1):.3f} | "
              f"of the others {oh}/{on} = {oh / max(on, 1):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
