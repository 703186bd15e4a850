"""Metric wrappers: separation (SI-SDR, BSS Eval), transcription (mir_eval) and activity.

Every function validates its inputs first (``ValueError`` naming the problem), then computes.
Signals are mono float arrays ``[samples]`` (or ``[sources, samples]``) at one sample rate;
note lists are ``stemscribe.notes.Note`` (seconds, MIDI pitch). Scores in dB are float64.

Undefined scores are ``None`` rather than 0 or NaN: an F1 against a reference with no notes,
an SDR against a silent reference. The runner counts them and leaves them out of means.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Sequence

import numpy as np

from ..classes import DRUM_CLASSES, GM_DRUM_MAP
from ..notes import Note, midi_to_hz, notes_to_arrays

# A reference whose RMS over the evaluated crop is below this (dB relative to full scale, 1.0)
# holds no usable energy: -80 dBFS is below 16-bit dither, so SI-SDR/SDR against it measure
# nothing but the estimate's noise. Such references are excluded from separation means.
SILENCE_DB = -80.0

# SI-SDR of a perfect (or silent) estimate is +inf (-inf); scores are clipped to +-100 dB so
# means stay finite. No real estimate comes near these bounds.
SI_SDR_CLAMP_DB = 100.0

# BSS Eval distortion filter: 512 taps is the bss_eval_sources (v3) default; at 16 kHz it
# allows a 32 ms time-invariant filter.
BSS_FILTER_LENGTH = 512

# Transcription tolerances (DESIGN.md, "Metrics"): onsets within 50 ms; offsets within
# 20 % of the reference note's length or 50 ms, whichever is larger.
ONSET_TOLERANCE = 0.05
OFFSET_RATIO = 0.2
OFFSET_MIN_TOLERANCE = 0.05

# Frame-level transcription uses mir_eval.multipitch's 10 ms grid.
MULTIPITCH_FRAME_RATE = 100.0

# Activity reference: a frame is "audible" when the reference stem's RMS over a window of
# ACTIVITY_WINDOW seconds centred on the frame is at least ACTIVITY_THRESHOLD_DB relative to
# the RMS of the whole evaluated mixture (the track as the model hears it). -30 dB below the
# mix level is where a part stops being heard as playing (it is masked by the rest); the
# 100 ms window bridges the gaps between repeated notes of one phrase.
ACTIVITY_THRESHOLD_DB = -30.0
ACTIVITY_WINDOW = 0.1

PRF = dict  # {"precision": float, "recall": float, "f1": float}


def _as_signal(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a mono signal [samples], got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    return x


def rms_db(x: np.ndarray) -> float:
    """RMS level of a signal in dB relative to full scale (1.0); -inf for digital silence."""
    x = np.asarray(x, dtype=np.float64)
    ms = float(np.mean(x * x)) if x.size else 0.0
    return 10.0 * np.log10(ms) if ms > 0 else float("-inf")


def is_silent(x: np.ndarray, threshold_db: float = SILENCE_DB) -> bool:
    """True when the signal's RMS is below ``threshold_db`` dBFS (see SILENCE_DB)."""
    return rms_db(x) < threshold_db


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float | np.ndarray:
    """Scale-invariant SDR in dB (Le Roux et al., 2019), no mean removal, clipped to +-100 dB.

    reference, estimate: ``[samples]`` of equal length and rate, or ``[signals, samples]`` (one
    score per row, returned as an array). The estimate is projected on the reference; SI-SDR =
    10 log10(|target|^2 / |estimate - target|^2). A silent estimate gives -100 dB, a perfect one
    +100 dB. Raises ValueError for a silent reference, for which the score is undefined (callers
    check ``is_silent`` first).
    """
    s = np.asarray(reference, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if s.ndim not in (1, 2) or s.shape[-1] == 0:
        raise ValueError(f"reference must be [samples] or [signals, samples], got shape {s.shape}")
    if s.shape != e.shape:
        raise ValueError(f"reference and estimate shapes differ: {s.shape} and {e.shape}")
    if not (np.isfinite(s).all() and np.isfinite(e).all()):
        raise ValueError("reference or estimate contains NaN or infinite samples")
    # einsum rather than dot: no BLAS threads, which contend with torch's on a busy machine.
    ss = np.einsum("...t,...t->...", s, s)
    if np.any(ss == 0.0):
        raise ValueError("reference is digitally silent; SI-SDR is undefined")
    se = np.einsum("...t,...t->...", s, e)
    ee = np.einsum("...t,...t->...", e, e)
    t = se * se / ss                       # |alpha s|^2 with alpha = <e, s> / |s|^2
    n = np.maximum(ee - t, 0.0)            # |e - alpha s|^2 by Pythagoras
    # Relative round-off of the subtraction: below it the residual is indistinguishable from 0.
    n = np.where(n <= 1e-14 * ee, 0.0, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = np.where(t == 0.0, -SI_SDR_CLAMP_DB,
                      np.where(n == 0.0, SI_SDR_CLAMP_DB, 10.0 * np.log10(t / np.where(n == 0.0, 1.0, n))))
    db = np.clip(db, -SI_SDR_CLAMP_DB, SI_SDR_CLAMP_DB)
    return float(db) if db.ndim == 0 else db


def bss_eval(references: np.ndarray, estimates: np.ndarray, pairs: Sequence[tuple[int, int]] | None = None,
             filter_length: int = BSS_FILTER_LENGTH) -> dict[str, np.ndarray]:
    """SDR, SIR and SAR in dB (bss_eval_sources definitions) computed by fast_bss_eval.

    references: ``[sources, samples]``, the true sources of the mixture; all must be non-silent
        (drop silent ones first: their projection matrix is singular).
    estimates: ``[estimates, samples]``.
    pairs: ``(estimate j, reference i)`` pairs to score: estimate j as an estimate of reference i,
        the other references being interferers (no permutation search: the classes are known).
        Default ``(i, i)`` for each source (one estimate per source, in order). One estimate may
        appear in several pairs (the mixture as an estimate of every source).
    Returns ``{"sdr", "sir", "sar"}``, each ``[pairs]`` float64; +inf where a term is exactly zero
    (e.g. the SAR of the mixture itself).

    Several systems' estimates of the same references go in one call: the references'
    block-Toeplitz correlation system (``sources * filter_length`` square), the expensive part, is
    then factorised once for all of them. Computation is in float64 (float32 moves high SIRs by
    more than 1 dB) on the whole signal: one time-invariant 512-tap distortion filter per estimate,
    not museval's 1 s windows. fast_bss_eval's torch backend is used: its NumPy backend fails on
    NumPy >= 2.
    """
    ref = np.asarray(references, dtype=np.float64)
    est = np.asarray(estimates, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 1:
        raise ValueError(f"references must be [sources, samples], got shape {ref.shape}")
    if est.ndim == 1:
        est = est[None]
    if est.ndim != 2 or est.shape[1] != ref.shape[1]:
        raise ValueError(f"estimates must be [estimates, samples] matching references {ref.shape}, "
                         f"got shape {np.asarray(estimates).shape}")
    pr = (np.stack([np.arange(ref.shape[0])] * 2, 1) if pairs is None
          else np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
    if pairs is None and est.shape[0] != ref.shape[0]:
        raise ValueError(f"without pairs, give one estimate per reference ({ref.shape[0]}), got {est.shape[0]}")
    if pr.size == 0 or pr[:, 0].min() < 0 or pr[:, 0].max() >= est.shape[0] or pr[:, 1].min() < 0 \
            or pr[:, 1].max() >= ref.shape[0]:
        raise ValueError(f"pairs must be (estimate 0-{est.shape[0] - 1}, reference 0-{ref.shape[0] - 1}), "
                         f"got {pr.tolist()}")
    if ref.shape[1] <= filter_length:
        raise ValueError(f"signals of {ref.shape[1]} samples are too short for a {filter_length}-tap "
                         f"BSS Eval filter")
    if not (np.isfinite(ref).all() and np.isfinite(est).all()):
        raise ValueError("references or estimates contain NaN or infinite samples")
    silent = [i for i in range(ref.shape[0]) if not np.any(ref[i])]
    if silent:
        raise ValueError(f"references {silent} are silent; leave silent references out of BSS Eval")
    sdr, sir, sar = _fast_bss_eval(ref, est, pr, filter_length)
    return {"sdr": sdr, "sir": sir, "sar": sar}


def _fast_bss_eval(ref: np.ndarray, est: np.ndarray, pairs: np.ndarray, filter_length: int,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ref ``[n, T]``, est ``[m, T]``, pairs ``[p, 2]`` (estimate, reference) -> sdr, sir, sar ``[p]``.

    Runs with one torch thread: the CPU build of torch 2.13 this project pins fails batched
    ``torch.linalg.solve`` with more than one thread (MKL "Parameter 6 was incorrect on entry to
    DLASWP", then "Pivots given to lu_solve must all be greater or equal to 1"), and BSS Eval's
    solves are batched.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _bss_eval_batched(ref, est, pairs, filter_length)
    except (AttributeError, TypeError):
        # fast_bss_eval's internals moved: its public function, once per pair (slower, same numbers).
        return _bss_eval_public(ref, est, pairs, filter_length)
    finally:
        torch.set_num_threads(threads)


def _bss_eval_batched(ref: np.ndarray, est: np.ndarray, pairs: np.ndarray, filter_length: int,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch
    from fast_bss_eval.torch import metrics as fbe

    with torch.no_grad():
        # Pairwise statistics of every reference with every estimate; the references' block
        # system is solved once with all m estimates as right-hand sides. Then the asked-for
        # (reference, estimate) entries are kept.
        coh_sdr, coh_sar = fbe.square_cosine_metrics(torch.from_numpy(np.ascontiguousarray(ref)),
                                                     torch.from_numpy(np.ascontiguousarray(est)),
                                                     filter_length=filter_length, pairwise=True)  # [n, m]
        neg = fbe._base_metrics_bss_eval(coh_sdr, coh_sar)
        cols, rows = torch.from_numpy(pairs[:, 0]), torch.from_numpy(pairs[:, 1])
        sdr, sir, sar = (-m[rows, cols] for m in neg)
    return sdr.numpy(), sir.numpy(), sar.numpy()


def _bss_eval_public(ref: np.ndarray, est: np.ndarray, pairs: np.ndarray, filter_length: int,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import fast_bss_eval
    import torch

    ref_t = torch.from_numpy(np.ascontiguousarray(ref))
    out = np.zeros((3, len(pairs)))
    for p, (j, i) in enumerate(pairs):
        # Estimate j in reference i's slot, the references themselves in the others (an estimate's
        # scores depend only on it and the references).
        e = ref.copy()
        e[i] = est[j]
        r = fast_bss_eval.bss_eval_sources(ref_t, torch.from_numpy(e), filter_length=filter_length,
                                           compute_permutation=False)
        out[:, p] = [float(r[k][i]) for k in range(3)]
    return out[0], out[1], out[2]


def _prf(precision: float, recall: float, f1: float) -> PRF:
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _validate_notes(notes: Sequence[Note], name: str) -> None:
    for n in notes:
        if not (np.isfinite(n.start) and np.isfinite(n.end)) or n.end < n.start or n.start < 0:
            raise ValueError(f"{name}: note {n} has an invalid interval (need 0 <= start <= end)")


def _arrays(notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    iv, hz, _ = notes_to_arrays(notes)
    # mir_eval rejects zero-length intervals; a note that starts and ends in one instant
    # (drum hits from some MIDI files) gets a 1 ms length, which no offset criterion here uses.
    if len(iv):
        iv[:, 1] = np.maximum(iv[:, 1], iv[:, 0] + 1e-3)
    return iv, hz


def note_scores(reference: Sequence[Note], estimate: Sequence[Note], onset_tolerance: float = ONSET_TOLERANCE,
                offset_ratio: float = OFFSET_RATIO, offset_min_tolerance: float = OFFSET_MIN_TOLERANCE,
                ) -> dict[str, PRF] | None:
    """Note-level precision/recall/F1 from ``mir_eval.transcription``.

    Returns ``{"onset": PRF, "onset_offset": PRF}``: onsets within ``onset_tolerance`` seconds
    and pitch within 50 cents; ``onset_offset`` also needs the offset within
    ``max(offset_ratio * reference length, offset_min_tolerance)`` seconds. None when the
    reference has no notes (F1 is undefined); an empty estimate against notes scores 0.
    """
    reference, estimate = list(reference), list(estimate)
    _validate_notes(reference, "reference")
    _validate_notes(estimate, "estimate")
    if onset_tolerance <= 0 or offset_ratio <= 0:
        raise ValueError("onset_tolerance and offset_ratio must be positive")
    if not reference:
        return None
    if not estimate:
        return {"onset": _prf(0, 0, 0), "onset_offset": _prf(0, 0, 0)}
    import mir_eval

    ri, rp = _arrays(reference)
    ei, ep = _arrays(estimate)
    on = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=onset_tolerance, offset_ratio=None)[:3]
    onoff = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=onset_tolerance, offset_ratio=offset_ratio,
        offset_min_tolerance=offset_min_tolerance)[:3]
    return {"onset": _prf(*on), "onset_offset": _prf(*onoff)}


def notes_to_multipitch(notes: Sequence[Note], duration: float, frame_rate: float = MULTIPITCH_FRAME_RATE,
                        ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frame times ``[frames]`` (s) and the frequencies (Hz) sounding in each frame.

    Frame ``i`` is at ``i / frame_rate`` s for ``i < ceil(duration * frame_rate)``; a note sounds
    in frames whose time lies in ``[start, end)``. Unison notes count once.
    """
    if duration <= 0 or frame_rate <= 0:
        raise ValueError(f"duration and frame_rate must be positive, got {duration} s and {frame_rate} Hz")
    n = int(np.ceil(duration * frame_rate))
    times = np.arange(n) / frame_rate
    active: list[set[int]] = [set() for _ in range(n)]
    for note in notes:
        a = int(np.ceil(note.start * frame_rate - 1e-9))
        b = int(np.ceil(note.end * frame_rate - 1e-9))
        for i in range(max(a, 0), min(b, n)):
            active[i].add(int(note.pitch))
    freqs = [midi_to_hz(sorted(p)) for p in active]
    return times, freqs


def _frame_roll(notes: Sequence[Note], n_frames: int, frame_rate: float) -> np.ndarray:
    """Boolean ``[n_frames, 128]``: MIDI pitch sounding at frame time ``i / frame_rate`` (same rule as
    ``notes_to_multipitch``)."""
    roll = np.zeros((n_frames, 128), bool)
    for note in notes:
        a = max(int(np.ceil(note.start * frame_rate - 1e-9)), 0)
        b = min(int(np.ceil(note.end * frame_rate - 1e-9)), n_frames)
        if 0 <= note.pitch < 128 and b > a:
            roll[a:b, int(note.pitch)] = True
    return roll


def frame_scores(reference: Sequence[Note], estimate: Sequence[Note], duration: float,
                 frame_rate: float = MULTIPITCH_FRAME_RATE) -> PRF | None:
    """Frame-level precision/recall/F1 with ``mir_eval.multipitch``'s definitions, on a 10 ms grid.

    duration: seconds of audio scored (frames after the last note count as silent frames).
    None when the reference has no notes.

    Both sides come from note lists, so every frequency is an exact MIDI pitch on one shared grid:
    mir_eval's per-frame matching within 50 cents is then pitch equality, and its true-positive
    count is the overlap of two piano rolls. The rolls give the same precision and recall as
    ``mir_eval.multipitch.metrics`` (a test checks it) in a fraction of a millisecond instead of
    its per-frame Python loop (~0.2 s per 30 s), which matters for dozens of calls per track.
    """
    reference, estimate = list(reference), list(estimate)
    _validate_notes(reference, "reference")
    _validate_notes(estimate, "estimate")
    if duration <= 0 or frame_rate <= 0:
        raise ValueError(f"duration and frame_rate must be positive, got {duration} s and {frame_rate} Hz")
    if not reference:
        return None
    n = int(np.ceil(duration * frame_rate))
    ref, est = _frame_roll(reference, n, frame_rate), _frame_roll(estimate, n, frame_rate)
    tp, n_ref, n_est = int(np.sum(ref & est)), int(ref.sum()), int(est.sum())
    if n_ref == 0:
        return None
    return _counts_prf(tp, n_ref, n_est)


def frame_scores_mir_eval(reference: Sequence[Note], estimate: Sequence[Note], duration: float,
                          frame_rate: float = MULTIPITCH_FRAME_RATE) -> PRF:
    """``frame_scores`` computed by ``mir_eval.multipitch.metrics`` itself (slow; the reference
    implementation the fast path is tested against)."""
    import mir_eval

    rt, rf = notes_to_multipitch(reference, duration, frame_rate)
    et, ef = notes_to_multipitch(estimate, duration, frame_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns about empty frames, which are expected
        p, r = mir_eval.multipitch.metrics(rt, rf, et, ef)[:2]
    return _prf(p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def drum_notes_by_class(notes: Iterable[Note]) -> dict[str, np.ndarray]:
    """Onset times (s) per drum class after mapping GM drum notes with ``GM_DRUM_MAP``.

    Notes outside the map (tambourine, cowbell, ...) are dropped: the model does not transcribe them.
    """
    out: dict[str, list[float]] = {c: [] for c in DRUM_CLASSES}
    for n in notes:
        k = GM_DRUM_MAP.get(int(n.pitch))
        if k is not None:
            out[DRUM_CLASSES[k]].append(float(n.start))
    return {c: np.array(sorted(v)) for c, v in out.items()}


def drum_scores(reference: Sequence[Note], estimate: Sequence[Note], onset_tolerance: float = ONSET_TOLERANCE,
                ) -> dict[str, PRF | None]:
    """Drum onset precision/recall/F1, per drum class and overall.

    Both note lists are GM drum notes; each is mapped to kick/snare/hihat/toms/cymbals and a
    hit matches a hit of the same class within ``onset_tolerance`` s (``mir_eval.onset``'s
    one-to-one matching). "overall" pools the matches of all classes. A class with no reference
    hits scores None.
    """
    reference, estimate = list(reference), list(estimate)
    _validate_notes(reference, "reference")
    _validate_notes(estimate, "estimate")
    if onset_tolerance <= 0:
        raise ValueError("onset_tolerance must be positive")
    import mir_eval

    ref, est = drum_notes_by_class(reference), drum_notes_by_class(estimate)
    out: dict[str, PRF | None] = {}
    hits = n_ref = n_est = 0
    for c in DRUM_CLASSES:
        r, e = ref[c], est[c]
        n_ref += len(r)
        n_est += len(e)
        if len(r) and len(e):
            m = len(mir_eval.util.match_events(r, e, onset_tolerance))
        else:
            m = 0
        hits += m
        out[c] = _counts_prf(m, len(r), len(e)) if len(r) else None
    out["overall"] = _counts_prf(hits, n_ref, n_est) if n_ref else None
    return out


def _counts_prf(hits: int, n_ref: int, n_est: int) -> PRF:
    p = hits / n_est if n_est else 0.0
    r = hits / n_ref if n_ref else 0.0
    return _prf(p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def frame_rms_db(x: np.ndarray, sample_rate: int, frame_rate: float, n_frames: int,
                 window: float = ACTIVITY_WINDOW) -> np.ndarray:
    """RMS in dBFS ``[n_frames]`` of ``x [samples]`` over ``window`` s centred on ``i / frame_rate`` s."""
    x = _as_signal(x, "signal")
    if sample_rate <= 0 or frame_rate <= 0 or window <= 0:
        raise ValueError("sample_rate, frame_rate and window must be positive")
    half = max(1, int(round(window * sample_rate / 2)))
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.round(np.arange(n_frames) * sample_rate / frame_rate).astype(np.int64)
    a = np.clip(centres - half, 0, x.size)
    b = np.clip(centres + half, 0, x.size)
    ms = (c[b] - c[a]) / np.maximum(b - a, 1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(ms, 0.0))


def audible_frames(stem: np.ndarray, mixture: np.ndarray, sample_rate: int, frame_rate: float, n_frames: int,
                   threshold_db: float = ACTIVITY_THRESHOLD_DB, window: float = ACTIVITY_WINDOW) -> np.ndarray:
    """Where a reference stem is audible: bool ``[n_frames]`` (definition at ACTIVITY_THRESHOLD_DB).

    stem, mixture: mono ``[samples]`` at ``sample_rate``; the threshold is relative to the RMS of
    the whole mixture, so the same stem level counts as inaudible under a loud mix.
    """
    mix_db = rms_db(_as_signal(mixture, "mixture"))
    if not np.isfinite(mix_db):
        return np.zeros(n_frames, bool)
    return frame_rms_db(stem, sample_rate, frame_rate, n_frames, window) >= mix_db + threshold_db


def segments_to_frames(segments: Iterable[tuple[float, float]], frame_rate: float, n_frames: int) -> np.ndarray:
    """Boolean ``[n_frames]``: frame ``i`` (at ``i / frame_rate`` s) lies inside a segment ``[start, end)``."""
    t = np.arange(n_frames) / frame_rate
    on = np.zeros(n_frames, bool)
    for a, b in segments:
        if b < a:
            raise ValueError(f"segment ({a}, {b}) ends before it starts")
        on |= (t >= a) & (t < b)
    return on


def activity_scores(reference: np.ndarray, estimate: np.ndarray) -> PRF | None:
    """Frame precision/recall/F1 of boolean activity ``[frames]``; None when the reference is never active."""
    r = np.asarray(reference, bool)
    e = np.asarray(estimate, bool)
    if r.shape != e.shape or r.ndim != 1:
        raise ValueError(f"activity arrays must be 1-D and equal in length, got {r.shape} and {e.shape}")
    if not r.any():
        return None
    return _counts_prf(int(np.sum(r & e)), int(r.sum()), int(e.sum()))
