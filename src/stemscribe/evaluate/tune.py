"""Tune a model's mask exponents, activity gate and note thresholds per class on the validation
split (never the test split).

The transcription head gives onset and frame probabilities; how high a peak must be to start a
note decides precision against recall, and a briefly trained model's probabilities sit far below
the textbook 0.5 (and a note whose frame probability never clears the frame threshold is shorter
than the minimum note length and dropped). For each class this sweeps the grid of onset x frame
thresholds for the best mean note-onset F1 over the validation tracks, ties broken by the
onset+offset F1 (drums have no offsets; their frame threshold is unused and stays at the
default). A class whose best F1 is no better than at the defaults keeps the defaults (0.5 / 0.3).
The model runs once per track; the sweeps only re-gate, re-mask and re-decode. The chosen values
are stored in the checkpoint (``extra["decode"]``) and used by ``Separator`` unless the user sets
thresholds.

Before the thresholds, the activity gate is tuned per class the same way: the gate scales each
class's mask by its smoothed activity, which removes leakage where the class is silent but also
cuts the class wherever a weak activity head misses it. For each class the sweep tries the gate
bounds of ``GATE_GRID`` (from the default to no gate at all) and keeps the one with the best mean
SI-SDR of the class's stem over the validation tracks where it plays (separation at the model's
rate, from the full mixture); ties go to the stronger gate, and a class with no gain keeps the
default. With a catch-all class each class's stem depends on its own gate only, so the classes
are tuned independently. The thresholds are then tuned on the rolls gated by the chosen gates.

First of all, the mask exponents: each class's mask is raised to a power and the masks are
renormalised (``inference.temper_masks``). A briefly trained network's masks are over-confident
where it is wrong (the L1 mask loss favours near-binary masks), and softening them trades some
bleed for far fewer artefacts: on the crnn-v2 model, exponent 0.35 for all classes raised the
validation mean SI-SDR from -3.2 to -1.2 dB. One exponent for all classes is chosen from
``POWER_GRID``, then each class's in turn, for the best mean SI-SDR over the classes' stems.
The exponents are chosen under the default gate, which can cut a class badly (strings lost 13 dB
to it on the crnn-v3 model); so once the gates are tuned, each class's exponent is tuned once
more under the chosen gates.
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
from ..inference import GATE_HIGH, GATE_LOW, Analysis, activity_gate, render
from ..notes import DEFAULT_FRAME, DEFAULT_ONSET, DecodeOptions, Note, rolls_to_notes
from . import metrics as M

ONSET_GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
FRAME_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
# Activity-gate bounds (low, high), strongest first; the first is the default, (0, 0) is no gate.
GATE_GRID = ((GATE_LOW, GATE_HIGH), (0.1, 0.3), (0.05, 0.2), (0.02, 0.1), (0.0, 0.0))
# Mask exponents (1: the network's masks; below 1 softer).
POWER_GRID = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15)


@dataclass
class MaskPowerTuning:
    """Chosen mask exponent per named class and the validation mean SI-SDR (dB) over classes."""

    powers: dict[str, float]
    si_sdr_default: float         # all exponents 1
    si_sdr: float                 # the chosen ones


@dataclass
class GateTuning:
    """Result for one class: chosen gate bounds and the validation SI-SDR (dB) behind them."""

    low: float
    high: float
    si_sdr_default: float         # mean SI-SDR of the class's stem with the default gate
    si_sdr: float                 # ... with the chosen one
    si_sdr_ungated: float         # ... with no gate
    tracks: int                   # validation tracks where the class plays


@dataclass
class TrackAnalysis:
    """What the sweeps need of one validation track (all at the model's rate)."""

    name: str
    analysis: Analysis
    mono: np.ndarray                         # [samples] the mixture
    references: dict[str, np.ndarray]        # class -> [samples], classes that play only
    notes: dict[str, list[Note]]             # class -> reference notes within the mixture


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


def analyse_tracks(separator, data: str | Path | list[str | Path], limit: int | None = None,
                   progress: Callable[[str], None] | None = None) -> list[TrackAnalysis]:
    """Run ``separator``'s model once over the full mixture of each track in ``data`` (a folder,
    or several whose tracks are pooled).

    Raises DataError for a folder of the test split (tuning on it would leak the test set).
    """
    folders = data if isinstance(data, (list, tuple)) else [data]
    tracks = [t for d in folders for t in find_tracks(d)][:limit]
    test = [t.name for t in tracks if t.split == "test"]
    if test:
        raise DataError(f"{data}: tracks {', '.join(test[:3])} belong to the test split, which is never used "
                        f"to tune; use the validation split")
    cmap, sr = separator.class_map, separator.sample_rate
    out = []
    for i, t in enumerate(tracks):
        t0 = time.perf_counter()
        mono = t.load_mix(sr)
        an = separator.analyze(mono[None], sr)
        refs = {c: _fit(x, mono.size) for c, x in t.class_audio(cmap, sr).items()}
        duration = mono.size / sr
        notes = {c: [n for n in v if n.start < duration] for c, v in t.class_notes(cmap).items()}
        out.append(TrackAnalysis(t.name, an, mono, {c: x for c, x in refs.items() if not M.is_silent(x)}, notes))
        if progress:
            progress(f"[{i + 1}/{len(tracks)}] {t.name}: analysed in {time.perf_counter() - t0:.1f} s")
    return out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, np.float32).reshape(-1)[:n]
    return np.pad(x, (0, n - x.size)) if x.size < n else x


def _with_gate(an: Analysis, low, high) -> Analysis:
    from dataclasses import replace

    return replace(an, gate=activity_gate(an.activity, low, high))


def _stem_si_sdrs(separator, tracks: list[TrackAnalysis], low, high, power) -> dict[str, list[float]]:
    """SI-SDR (dB) of each named class's stem on each track where it plays, separated at the
    model's rate from the full mixture with gate bounds ``low``/``high`` and mask exponents ``power``."""
    cmap, sr, cfg = separator.class_map, separator.sample_rate, separator.config
    named = [ci for ci, c in enumerate(cmap.classes) if not c.catch_all]
    scores: dict[str, list[float]] = {cmap.classes[ci].name: [] for ci in named}
    for ta in tracks:
        an = _with_gate(ta.analysis, low, high)
        stems = np.zeros((len(cmap), ta.mono.size), np.float32)
        for s0, seg in render(ta.mono[None], sr, an, cfg, list(range(len(cmap))), device=separator.device,
                              gate=separator.gating, mask_power=power):
            stems[:, s0:s0 + seg.shape[-1]] = seg[:, 0]
        for ci in named:
            c = cmap.classes[ci].name
            if c in ta.references:
                scores[c].append(float(M.si_sdr(ta.references[c], stems[ci])))
    return scores


def _mean_over_classes(scores: dict[str, list[float]]) -> float:
    return float(np.mean([np.mean(v) for v in scores.values() if v]))


def tune_mask_power(separator, tracks: list[TrackAnalysis], grid: tuple[float, ...] = POWER_GRID,
                    progress: Callable[[str], None] | None = None,
                    start: dict[str, float] | None = None) -> MaskPowerTuning:
    """Per-class mask exponents (``inference.temper_masks``) for the best mean SI-SDR over the
    named classes' stems, gated as ``separator`` gates them.

    First one exponent for all classes from ``grid``; then one pass over the classes, each trying
    every exponent of the grid with the others held (renormalising couples the classes, so the
    objective stays the mean over all of them). A change is kept only if it raises that mean.
    With ``start`` (exponents per class name, e.g. from an earlier pass under other gates), the
    all-classes step is skipped and the pass over the classes starts from those.
    """
    low, high = separator.gate_bounds()
    names = separator.class_map.names
    tried: dict[tuple, float] = {}

    def score(powers: tuple[float, ...]) -> float:
        if powers not in tried:
            tried[powers] = _mean_over_classes(_stem_si_sdrs(separator, tracks, low, high, np.array(powers, np.float32)))
        return tried[powers]

    base = score((1.0,) * len(names))
    if start is None:
        best = max(((p,) * len(names) for p in grid), key=lambda ps: (round(score(ps), 3), ps[0] == 1.0))
        if progress:
            progress(f"mask power, all classes: " + ", ".join(f"{p}: {score((p,) * len(names)):.2f}" for p in grid)
                     + f" dB -> {best[0]}")
    else:
        best = tuple(float(start.get(c, 1.0)) for c in names)
    named = [i for i, c in enumerate(separator.class_map.classes) if not c.catch_all]
    for ci in named:
        for p in grid:
            cand = best[:ci] + (p,) + best[ci + 1:]
            if round(score(cand), 3) > round(score(best), 3):
                best = cand
        if progress:
            progress(f"mask power, {names[ci]}: {best[ci]} (mean SI-SDR {score(best):.2f} dB)")
    return MaskPowerTuning({names[i]: float(best[i]) for i in named}, round(base, 3), round(score(best), 3))


def tune_gates(separator, tracks: list[TrackAnalysis], grid: tuple[tuple[float, float], ...] = GATE_GRID,
               progress: Callable[[str], None] | None = None) -> dict[str, GateTuning]:
    """Per-class activity-gate bounds for the best mean SI-SDR of each named class's stem
    (masks tempered by ``separator.mask_powers()``).

    Classes that play in no track, and the catch-all class, are left out (the catch-all is what
    the others leave). Needs the activity head; without a catch-all class the masks are
    renormalised after gating, so a class's stem also depends on the other gates and the
    per-class choice is an approximation.
    """
    power = separator.mask_powers()
    scores = {g: _stem_si_sdrs(separator, tracks, *g, power) for g in grid}
    out = {}
    for c in scores[grid[0]]:
        n = len(scores[grid[0]][c])
        if n == 0:
            continue
        mean = {g: float(np.mean(scores[g][c])) for g in grid}
        best = max(grid, key=lambda g: (round(mean[g], 3), -grid.index(g)))    # ties: the stronger gate
        if not mean[best] > mean[grid[0]]:
            best = grid[0]
        ungated = next((mean[g] for g in grid if g[1] <= 0), float("nan"))
        out[c] = GateTuning(float(best[0]), float(best[1]), round(mean[grid[0]], 3), round(mean[best], 3),
                            round(ungated, 3), n)
        if progress:
            progress(f"{c}: gate {best[0]:.2f}-{best[1]:.2f}: SI-SDR {mean[grid[0]]:.2f} -> {mean[best]:.2f} dB "
                     f"(no gate {ungated:.2f}; {n} tracks)")
    return out


def tune_thresholds(separator, tracks: list[TrackAnalysis], onset_grid: tuple[float, ...] = ONSET_GRID,
                    frame_grid: tuple[float, ...] = FRAME_GRID,
                    progress: Callable[[str], None] | None = None) -> dict[str, ClassTuning]:
    """Per-class note thresholds for the best mean onset F1, decoding the rolls gated as
    ``separator`` gates them (its ``gate_bounds()``)."""
    cmap, fr = separator.class_map, separator.frame_rate
    low, high = separator.gate_bounds()
    per_class: dict[str, tuple[list, list]] = {c: ([], []) for c in cmap.names}
    for ta in tracks:
        an = _with_gate(ta.analysis, low, high)
        for ci, c in enumerate(cmap.classes):
            per_class[c.name][0].append(ta.notes.get(c.name, []))
            per_class[c.name][1].append(separator.class_rolls(an, ci))
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


def write_tuning(checkpoint: str | Path, tuning: dict[str, ClassTuning], data: str | Path | list[str | Path],
                 out: str | Path | None = None, gates: dict[str, GateTuning] | None = None,
                 mask_power: MaskPowerTuning | None = None) -> Path:
    """Store the chosen thresholds (and gate bounds, mask exponents) in a checkpoint (``out``,
    default: in place, atomically). Earlier tuned values not re-tuned are dropped."""
    from dataclasses import asdict

    from ..checkpoint import read_checkpoint

    ck = read_checkpoint(checkpoint)
    data = " ".join(map(str, data)) if isinstance(data, (list, tuple)) else data
    extra = {k: v for k, v in (ck.get("extra") or {}).items()
             if k not in ("gate", "gate_tuning", "mask_power", "mask_power_tuning")}
    if tuning:
        extra["decode"] = {c: {"onset_threshold": t.onset_threshold, "frame_threshold": t.frame_threshold}
                           for c, t in tuning.items()}
        extra["decode_tuning"] = {"data": str(data), "classes": {c: asdict(t) for c, t in tuning.items()}}
    if gates:
        extra["gate"] = {c: {"low": g.low, "high": g.high} for c, g in gates.items()}
        extra["gate_tuning"] = {"data": str(data), "grid": [list(g) for g in GATE_GRID],
                                "classes": {c: asdict(g) for c, g in gates.items()}}
    if mask_power:
        extra["mask_power"] = dict(mask_power.powers)
        extra["mask_power_tuning"] = {"data": str(data), "grid": list(POWER_GRID), **asdict(mask_power)}
    ck["extra"] = extra
    dest = Path(out or checkpoint)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    torch.save(ck, tmp)
    os.replace(tmp, dest)
    return dest
