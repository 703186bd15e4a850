"""Tune a model's note thresholds per class on the validation split (never the test split).

The transcription head gives onset and frame probabilities; how high a peak must be to start a
note decides precision against recall, and a briefly trained model's probabilities sit far below
the textbook 0.5 (and a note whose frame probability never clears the frame threshold is shorter
than the minimum note length and dropped). For each class this sweeps the grid of onset x frame
thresholds for the best mean note-onset F1 over the validation tracks, ties broken by the
onset+offset F1 (drums have no offsets; their frame threshold is unused and stays at the
default). A class whose best F1 is no better than at the defaults keeps the defaults (0.5 / 0.3).
The model runs once per track; the sweep only re-decodes. The chosen values are stored
in the checkpoint (``extra["decode"]``) and used by ``Separator`` unless the user sets thresholds.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.slakh import DataError, find_tracks
from ..notes import DEFAULT_FRAME, DEFAULT_ONSET, DecodeOptions, rolls_to_notes
from . import metrics as M

ONSET_GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
FRAME_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)


@dataclass
class ClassTuning:
    """Result for one class: chosen thresholds and the validation scores behind them."""

    onset_threshold: float
    frame_threshold: float
    onset_f1_default: float       # mean onset F1 at the default thresholds
    onset_f1: float               # mean onset F1 at the chosen ones
    tracks: int                   # validation tracks with reference notes of the class


def _mean_f1(ref_notes, probs, fr, is_drum, onset_t, frame_t, min_len) -> tuple[float, float]:
    """(mean onset F1, mean onset+offset F1) over the tracks with reference notes (drums: both the
    drum onset F1)."""
    on, onoff = [], []
    for ref, (frame, onset, vel) in zip(ref_notes, probs):
        if not ref:
            continue
        est = rolls_to_notes(frame, onset, fr, is_drum, vel, DecodeOptions(onset_t, frame_t, min_len))
        if is_drum:
            f = M.drum_scores(ref, est)["overall"]["f1"]
            on.append(f), onoff.append(f)
        else:
            s = M.note_scores(ref, est)
            on.append(s["onset"]["f1"]), onoff.append(s["onset_offset"]["f1"])
    return (float(np.mean(on)), float(np.mean(onoff))) if on else (float("nan"), float("nan"))


def tune_thresholds(separator, data: str | Path, limit: int | None = None,
                    onset_grid: tuple[float, ...] = ONSET_GRID, frame_grid: tuple[float, ...] = FRAME_GRID,
                    progress: Callable[[str], None] | None = None) -> dict[str, ClassTuning]:
    """Per-class thresholds for ``separator``'s model from the full mixtures of the tracks in ``data``.

    Raises DataError for a folder of the test split (tuning on it would leak the test set).
    """
    tracks = find_tracks(data)[:limit]
    test = [t.name for t in tracks if t.split == "test"]
    if test:
        raise DataError(f"{data}: tracks {', '.join(test[:3])} belong to the test split, which is never used "
                        f"to tune; use the validation split")
    cmap, fr = separator.class_map, separator.frame_rate
    per_class: dict[str, tuple[list, list]] = {c: ([], []) for c in cmap.names}
    for i, t in enumerate(tracks):
        t0 = time.perf_counter()
        sr = t.sample_rate()
        mix = t.load_mix()
        an = separator.analyze(mix[None], sr)
        notes = t.class_notes(cmap)
        duration = mix.size / sr
        for ci, c in enumerate(cmap.classes):
            per_class[c.name][0].append([n for n in notes.get(c.name, []) if n.start < duration])
            per_class[c.name][1].append(separator.class_rolls(an, ci))
        if progress:
            progress(f"[{i + 1}/{len(tracks)}] {t.name}: analysed in {time.perf_counter() - t0:.1f} s")
    min_len = separator.options.decode.min_note_length
    out = {}
    for c in cmap.classes:
        refs, probs = per_class[c.name]
        n = sum(1 for r in refs if r)
        if n == 0:
            continue
        base = _mean_f1(refs, probs, fr, c.is_drum, DEFAULT_ONSET, DEFAULT_FRAME, min_len)[0]
        grid = [(o, f) for o in onset_grid for f in ((DEFAULT_FRAME,) if c.is_drum else frame_grid)]
        scores = {of: _mean_f1(refs, probs, fr, c.is_drum, *of, min_len) for of in grid}
        best_on, best_fr = max(scores, key=lambda of: (*scores[of], of[0]))   # ties: the sparser threshold
        if not scores[best_on, best_fr][0] > base:   # no gain on validation: keep the defaults
            best_on, best_fr = DEFAULT_ONSET, DEFAULT_FRAME
            scores[best_on, best_fr] = (base, base)
        out[c.name] = ClassTuning(best_on, best_fr, round(base, 4), round(scores[best_on, best_fr][0], 4), n)
        if progress:
            progress(f"{c.name}: onset {best_on}, frame {best_fr}: onset F1 {base:.3f} -> {out[c.name].onset_f1:.3f} "
                     f"({n} tracks)")
    return out


def write_tuning(checkpoint: str | Path, tuning: dict[str, ClassTuning], data: str | Path,
                 out: str | Path | None = None) -> Path:
    """Store the chosen thresholds in a checkpoint (``out``, default: in place, atomically)."""
    from dataclasses import asdict

    from ..checkpoint import read_checkpoint

    ck = read_checkpoint(checkpoint)
    extra = dict(ck.get("extra") or {})
    extra["decode"] = {c: {"onset_threshold": t.onset_threshold, "frame_threshold": t.frame_threshold}
                       for c, t in tuning.items()}
    extra["decode_tuning"] = {"data": str(data), "classes": {c: asdict(t) for c, t in tuning.items()}}
    ck["extra"] = extra
    dest = Path(out or checkpoint)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    torch.save(ck, tmp)
    os.replace(tmp, dest)
    return dest
