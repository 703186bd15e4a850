"""The evaluation loop: every track of a Slakh-layout folder, every instrument set of the paper.

For each track and each set of ``classes.PAPER_SETS`` (piano+guitar, +bass, +drums, +strings):

1. the set's mixture is the sum of the track's stems of the set's classes, at the track's rate
   (a track without a stem of one of the classes is skipped for that set, and counted);
2. the model separates that mixture once (each set is its own mixture, so the model runs once
   per set per track);
3. estimates and references are resampled to ``eval_rate`` (16 kHz, the paper's protocol) and
   scored: SI-SDR and its improvement over the mixture, BSS Eval SDR/SIR/SAR over the whole
   crop (``metrics.bss_eval``), note and frame F1 against the stems' MIDI, drum onset F1 per
   drum class, activity F1 against where each reference stem is audible;
4. the baselines are scored on the same mixture: the mixture itself, the ideal ratio and ideal
   binary masks (``oracle``), and basic-pitch transcribing the mixture and our separated stems.

basic-pitch does not tell instruments apart, so its mixture transcription is scored against each
class's reference notes in turn (how well an instrument-blind transcriber serves "the piano
part": its notes of the other instruments count as false positives) and, in the "all" entry,
against the union of the set's pitched references (multi-instrument transcription without
instrument labels).

Dataset classes come from the model's class map (a model's "piano" is what it was trained to call
piano). Reference notes are those of each class's stems' MIDI files.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..classes import DRUM_CLASSES, PAPER_SETS, ClassMap
from ..data.slakh import DataError, SlakhTrack, find_tracks
from ..notes import Note
from ..results import SeparationResult
from . import metrics as M
from .oracle import ORACLE_HOP, ORACLE_N_FFT, ideal_binary_mask, ideal_ratio_mask

BASELINES = ("mixture", "irm", "ibm", "basic-pitch")

# System names as they appear in the per-track and summary JSON.
MODEL = "model"
BP_MIX = "basic-pitch (mixture)"
BP_SEP = "basic-pitch (separated)"

# Level (dB relative to the mixture) given to a silent out-of-set stem in the leakage means.
LEAK_FLOOR_DB = -120.0

# Metrics shown in the listening report of ``--report``.
REPORT_METRICS = ("si_sdr", "si_sdri", "sdr", "onset_f1", "onset_offset_f1", "frame_f1", "activity_f1")


class SeparatorLike(Protocol):
    """What the runner needs of a model (``stemscribe.Separator`` has it)."""

    class_map: ClassMap
    model_name: str

    def separate(self, audio: np.ndarray, sample_rate: int) -> SeparationResult: ...


@dataclass
class EvalSettings:
    """Evaluation settings; stored, resolved, in every summary.

    sets: instrument-set sizes, keys of ``classes.PAPER_SETS``.
    eval_rate: Hz at which every metric is computed (estimates and references are resampled).
    seconds: crop each track to its first ``seconds`` (None: whole track).
    limit: evaluate only the first ``limit`` tracks in path order (None: all).
    baselines: any of "mixture", "irm", "ibm", "basic-pitch".
    onset_tolerance / offset_ratio / offset_min_tolerance: mir_eval note matching, seconds / ratio.
    bss_filter_length: BSS Eval distortion filter taps at ``eval_rate``.
    silence_db: references quieter than this (dBFS RMS over the crop) are "silent" and left out
        of separation means.
    activity_threshold_db / activity_window: the "audible" definition of ``metrics.audible_frames``.
    oracle_n_fft / oracle_hop: STFT of the oracle masks, samples at ``eval_rate``.
    report: write a listening report per track (largest evaluated set).
    basic_pitch_sets: sets on which the basic-pitch baseline runs (None: the largest of ``sets``).
        It costs one transcription of the mixture plus one per separated pitched stem, about half
        of the whole evaluation's time when run on every set.
    """

    sets: tuple[int, ...] = (2, 3, 4, 5)
    eval_rate: int = 16000
    seconds: float | None = None
    limit: int | None = None
    baselines: tuple[str, ...] = BASELINES
    onset_tolerance: float = M.ONSET_TOLERANCE
    offset_ratio: float = M.OFFSET_RATIO
    offset_min_tolerance: float = M.OFFSET_MIN_TOLERANCE
    bss_filter_length: int = M.BSS_FILTER_LENGTH
    silence_db: float = M.SILENCE_DB
    activity_threshold_db: float = M.ACTIVITY_THRESHOLD_DB
    activity_window: float = M.ACTIVITY_WINDOW
    oracle_n_fft: int = ORACLE_N_FFT
    oracle_hop: int = ORACLE_HOP
    report: bool = False
    basic_pitch_sets: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.sets = tuple(int(s) for s in self.sets)
        if self.basic_pitch_sets is None:
            self.basic_pitch_sets = (max(self.sets),) if self.sets else ()
        self.basic_pitch_sets = tuple(int(s) for s in self.basic_pitch_sets)
        if any(s not in self.sets for s in self.basic_pitch_sets):
            raise ValueError(f"basic-pitch sets {list(self.basic_pitch_sets)} must be among the evaluated "
                             f"sets {list(self.sets)}")
        self.baselines = tuple(self.baselines)
        bad = [s for s in self.sets if s not in PAPER_SETS]
        if bad or not self.sets:
            raise ValueError(f"unknown instrument set {bad or '(none)'}; choose from "
                             f"{', '.join(map(str, PAPER_SETS))}")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise ValueError(f"unknown baseline {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
        if not 8000 <= self.eval_rate <= 192000:
            raise ValueError(f"eval rate {self.eval_rate} Hz is outside 8000-192000 Hz")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")


def check_track(track: SlakhTrack) -> None:
    """Raise DataError when a track's rendered stems lack their audio or MIDI file.

    Stems marked ``audio_rendered: false`` (Slakh2100 has some) legitimately have no audio and are
    ignored; a rendered stem without its file means a broken copy of the dataset.
    """
    track.mix_path  # raises DataError when missing
    for key, s in sorted(track.stems.items()):
        if not s.audio_rendered:
            continue
        if track.stem_audio_path(key) is None:
            raise DataError(f"{track.path}: stem {key} is rendered according to metadata.yaml but "
                            f"stems/{key}.flac (or .wav) is missing")
        if track.stem_midi_path(key) is None:
            raise DataError(f"{track.path}: stem {key} has no MIDI file MIDI/{key}.mid")


def crop_notes(notes: list[Note], seconds: float) -> list[Note]:
    """Notes starting before ``seconds``, their ends clipped to it."""
    return [Note(n.pitch, n.start, min(n.end, seconds), n.velocity) for n in notes if n.start < seconds]


def _num(x) -> float | None:
    """A JSON-safe float rounded to 4 decimals; None for None, NaN and infinities."""
    if x is None:
        return None
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=0) if x.ndim == 2 else x


def _sum_padded(signals: list[np.ndarray]) -> np.ndarray:
    """Sum of mono signals of possibly different lengths (shorter ones padded with zeros)."""
    out = np.zeros(max(x.size for x in signals), np.float32)
    for x in signals:
        out[:x.size] += x
    return out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))


def _transcription_entry(ref: list[Note], est: list[Note], is_drum: bool, duration: float,
                         s: EvalSettings) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if is_drum:
        d = M.drum_scores(ref, est, s.onset_tolerance)
        for c in (*DRUM_CLASSES, "overall"):
            for k in ("precision", "recall", "f1"):
                out[f"drum_{c}_{k}"] = _num(d[c][k]) if d[c] else None
        # The paper's drum cell: onset F1 over all drum classes; drums have no offsets.
        out["onset_f1"] = out["drum_overall_f1"]
        out["onset_precision"] = out["drum_overall_precision"]
        out["onset_recall"] = out["drum_overall_recall"]
        return out
    n = M.note_scores(ref, est, s.onset_tolerance, s.offset_ratio, s.offset_min_tolerance)
    f = M.frame_scores(ref, est, duration)
    for key in ("onset", "onset_offset"):
        for k in ("precision", "recall", "f1"):
            out[f"{key}_{k}"] = _num(n[key][k]) if n else None
    for k in ("precision", "recall", "f1"):
        out[f"frame_{k}"] = _num(f[k]) if f else None
    return out


class TrackEvaluator:
    """Scores one model (and the baselines) on tracks; holds the loaded basic-pitch model."""

    def __init__(self, separator: SeparatorLike, settings: EvalSettings, report_dir: Path | None = None):
        self.sep = separator
        self.s = settings
        self.report_dir = report_dir
        self.basic_pitch = None
        self.basic_pitch_status = "not requested"
        if "basic-pitch" in settings.baselines:
            from .baselines import BasicPitch, basic_pitch_status

            self.basic_pitch_status = basic_pitch_status()
            if self.basic_pitch_status == "ok":
                self.basic_pitch = BasicPitch()

    def evaluate(self, track: SlakhTrack) -> dict:
        """Per-track results (the per-track JSON): one entry per requested set."""
        s, cmap = self.s, self.sep.class_map
        t0 = time.perf_counter()
        sr = track.sample_rate()
        present = track.class_stems(cmap)
        wanted = sorted({c for k in s.sets for c in PAPER_SETS[k] if c in present})
        audio = {c: _sum_padded([track.load_stem(k) for k in present[c]]) for c in wanted}
        n_native = min((a.size for a in audio.values()), default=0)
        if s.seconds is not None:
            n_native = min(n_native, int(round(s.seconds * sr)))
        audio = {c: a[:n_native] for c, a in audio.items()}
        duration = n_native / sr
        from ..audio import resample

        ref = {c: resample(a[None], sr, s.eval_rate)[0] for c, a in audio.items()}
        n_eval = min((r.size for r in ref.values()), default=0)
        ref = {c: r[:n_eval] for c, r in ref.items()}
        all_notes = track.class_notes(cmap)
        notes = {c: crop_notes(all_notes.get(c, []), duration) for c in wanted}
        out = {"track": track.name, "path": str(track.path), "sample_rate": sr, "duration_s": _num(duration),
               "sets": {}}
        last = None  # (set, result) of the largest evaluated set, for the report
        for k in s.sets:
            names = PAPER_SETS[k]
            missing = [c for c in names if c not in present]
            no_class = [c for c in names if c not in cmap.names]
            if no_class:
                out["sets"][str(k)] = {"status": "skipped", "reason": f"model has no {'/'.join(no_class)} class"}
            elif missing:
                out["sets"][str(k)] = {"status": "skipped", "reason": f"no {'/'.join(missing)} stem"}
            elif n_eval <= s.bss_filter_length:
                out["sets"][str(k)] = {"status": "skipped", "reason": "track shorter than the BSS Eval filter"}
            else:
                out["sets"][str(k)], result = self._evaluate_set(names, audio, ref, notes, sr, duration)
                if self.report_dir is not None and (last is None or len(names) > len(PAPER_SETS[last[0]])):
                    last = (k, result)
                del result
        if last is not None:
            self._report(track, last[0], last[1], notes, out["sets"][str(last[0])])
        out["seconds"] = _num(time.perf_counter() - t0)
        return out

    def _evaluate_set(self, names: tuple[str, ...], audio: dict, ref: dict, notes: dict, sr: int,
                      duration: float) -> tuple[dict, SeparationResult]:
        s = self.s
        from ..audio import resample

        mix_native = np.sum([audio[c] for c in names], axis=0).astype(np.float32)
        t0 = time.perf_counter()
        result = self.sep.separate(mix_native[None], sr)
        t_sep = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = ref[names[0]].size
        refs = np.stack([ref[c] for c in names])                     # [sources, n] at eval_rate
        mix = refs.sum(0)
        est = {c: _fit(resample(_mono(result.stems[c])[None], sr, s.eval_rate)[0], n) for c in result.stems}
        silent = [c for c in names if M.is_silent(ref[c], s.silence_db)]
        active = [c for c in names if c not in silent]

        # Estimates [sources, n] per system; the mixture is one signal, an estimate of every source.
        # An ablation model without a trained mask head separates by clustering its deep-clustering
        # embeddings (oracle cluster assignment), or not at all (transcription only).
        heads = getattr(self.sep, "heads", None) or frozenset({"mi", "dc", "tr", "act"})
        systems: dict[str, np.ndarray] = {}
        if "mi" in heads:
            systems[MODEL] = np.stack([est[c] for c in names])
        elif "dc" in heads:
            systems[MODEL] = self._dc_estimates(names, mix_native, sr, refs, silent)
        if "mixture" in s.baselines:
            systems["mixture"] = mix[None]
        if "irm" in s.baselines:
            systems["irm"] = ideal_ratio_mask(refs, s.oracle_n_fft, s.oracle_hop)
        if "ibm" in s.baselines:
            systems["ibm"] = ideal_binary_mask(refs, s.oracle_n_fft, s.oracle_hop)
        scores: dict[str, dict[str, dict]] = {sys: {c: {} for c in names} for sys in (MODEL, *systems)}
        for c in names:
            if MODEL not in systems:
                scores[MODEL][c].update(si_sdr=None, si_sdri=None, sdr=None, sir=None, sar=None)

        # Separation. Silent references are left out of SI-SDR and of BSS Eval (their projection
        # is undefined), so each active source competes with the active others only. All systems
        # go into one BSS Eval call (the references' system is solved once).
        active_idx = [names.index(c) for c in active]
        stacked, pairs, where = [], [], {}
        for sys, e in systems.items():
            base = sum(len(x) for x in stacked)
            shared = sys == "mixture"
            stacked.append(e if shared else e[active_idx])
            for a, c in enumerate(active):
                where[sys, c] = len(pairs)
                pairs.append((base + (0 if shared else a), a))
        bss = (M.bss_eval(refs[active_idx], np.concatenate(stacked), pairs, s.bss_filter_length)
               if active and stacked else None)
        act_refs = refs[active_idx]                                      # [active, n]
        mix_si_sdr = M.si_sdr(act_refs, np.broadcast_to(mix, act_refs.shape)) if active else None
        for sys, e in systems.items():
            v = (M.si_sdr(act_refs, np.broadcast_to(e, act_refs.shape) if sys == "mixture" else e[active_idx])
                 if active else None)
            for c in names:
                entry = scores[sys][c]
                if c in silent:
                    entry.update(si_sdr=None, si_sdri=None, sdr=None, sir=None, sar=None)
                    continue
                a = active.index(c)
                entry["si_sdr"] = _num(v[a])
                entry["si_sdri"] = _num(v[a] - mix_si_sdr[a])
                for m in ("sdr", "sir", "sar"):
                    entry[m] = _num(bss[m][where[sys, c]])
                if sys == "mixture":
                    entry["sar"] = None  # the mixture has no artifacts: SAR is infinite (round-off decides the digits)

        # Transcription and activity of the model.
        for c in names:
            is_drum = self.sep.class_map[c].is_drum
            e = scores[MODEL][c]
            tr = _transcription_entry(notes[c], result.notes.get(c, []), is_drum, duration, s)
            e.update(tr if "tr" in heads else {k: None for k in tr})
            act = result.activity.get(c)
            if act is not None:
                nf = len(act.probabilities)
                r_on = M.audible_frames(ref[c], mix, s.eval_rate, act.frame_rate, nf,
                                        s.activity_threshold_db, s.activity_window)
                a = (M.activity_scores(r_on, M.segments_to_frames(act.segments, act.frame_rate, nf))
                     if "act" in heads else None)   # an untrained activity head is not scored
                for k in ("precision", "recall", "f1"):
                    e[f"activity_{k}"] = _num(a[k]) if a else None
                e["audible_fraction"] = _num(r_on.mean())

        # Classes of the model outside the set: everything it puts there is leakage.
        mix_db = M.rms_db(mix)
        out_of_set = {}
        for c in result.stems:
            if c in names:
                continue
            act = result.activity.get(c)
            active_s = (sum(max(0.0, min(b, duration) - max(a, 0.0)) for a, b in act.segments)
                        if act is not None else 0.0)
            # A silent stem (the ideal) has -inf dB; the floor keeps it in the means.
            out_of_set[c] = {"level_db": _num(max(M.rms_db(est[c]) - mix_db, LEAK_FLOOR_DB)),
                             "active_fraction": _num(active_s / duration if duration else 0.0),
                             "notes_per_minute": _num(60.0 * len(result.notes.get(c, [])) / duration)}
        t_metrics = time.perf_counter() - t0

        t0 = time.perf_counter()
        bp_status = self.basic_pitch_status
        if self.basic_pitch is not None and len(names) in s.basic_pitch_sets:
            scores[BP_MIX], scores[BP_SEP] = self._basic_pitch(names, mix_native, result, notes, sr, duration)
        elif self.basic_pitch is not None:
            bp_status = "not run on this set (--basic-pitch-sets)"
        t_bp = time.perf_counter() - t0
        entry = {"status": "evaluated", "classes": list(names), "silent_references": silent,
                 "no_reference_notes": [c for c in names if not notes[c]],
                 "systems": scores, "out_of_set": out_of_set,
                 "basic_pitch": bp_status,
                 "seconds": {"separate": _num(t_sep), "metrics": _num(t_metrics), "basic_pitch": _num(t_bp)}}
        return entry, result

    def _dc_estimates(self, names: tuple[str, ...], mix_native: np.ndarray, sr: int, refs: np.ndarray,
                      silent: list[str]) -> np.ndarray:
        """Deep-clustering estimates ``[sources, n]`` at ``eval_rate`` (silent sources: zeros)."""
        from ..audio import resample
        from .dc import dc_separate

        cfg, rate, n = self.sep.config, self.sep.config.sample_rate, refs.shape[1]
        mono = resample(mix_native[None], sr, rate)[0]
        active = [i for i, c in enumerate(names) if c not in silent]
        r = np.stack([_fit(resample(refs[i][None], self.s.eval_rate, rate)[0], mono.size) for i in active])
        est = dc_separate(self.sep.model, cfg, mono, r, len(names))
        out = np.zeros((len(names), n), np.float32)
        for j, i in enumerate(active):
            out[i] = _fit(resample(est[j][None], rate, self.s.eval_rate)[0], n)
        return out

    def _basic_pitch(self, names: tuple[str, ...], mix_native: np.ndarray, result: SeparationResult,
                     notes: dict[str, list[Note]], sr: int, duration: float) -> tuple[dict, dict]:
        s, bp = self.s, self.basic_pitch
        pitched = [c for c in names if not self.sep.class_map[c].is_drum]
        mix_notes = bp.transcribe(mix_native, sr)
        on_mix = {c: _transcription_entry(notes[c], mix_notes, False, duration, s) for c in pitched}
        union = sorted((n for c in pitched for n in notes[c]), key=lambda n: (n.start, n.pitch))
        on_mix["all"] = _transcription_entry(union, mix_notes, False, duration, s)
        on_sep = {c: _transcription_entry(notes[c], bp.transcribe(_mono(result.stems[c]), sr), False, duration, s)
                  for c in pitched}
        return on_mix, on_sep

    def _report(self, track: SlakhTrack, k: int, result: SeparationResult, notes: dict, entry: dict) -> None:
        from ..report import build_report

        out = self.report_dir / track.name
        out.mkdir(parents=True, exist_ok=True)
        # The headline metrics of each class of the set, undefined ones left out.
        scores = {c: {m: v for m, v in e.items() if m in REPORT_METRICS and v is not None}
                  for c, e in entry["systems"][MODEL].items()}
        build_report(result, out, audio_format="wav", scores=scores,
                     reference_notes={c: notes[c] for c in PAPER_SETS[k]})


def _describe_config(sep: SeparatorLike) -> dict:
    cfg = getattr(sep, "config", None)
    if is_dataclass(cfg):
        return asdict(cfg)
    return dict(cfg) if isinstance(cfg, dict) else {"repr": repr(cfg)}


def _machine() -> dict:
    from ..benchmark import machine_info

    return machine_info()


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("stemscribe", "torch", "numpy", "fast_bss_eval", "mir_eval", "basic-pitch", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def evaluate_dataset(data: str | Path, separator: SeparatorLike, settings: EvalSettings,
                     out_dir: str | Path | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Evaluate ``separator`` on every Slakh-layout track below ``data``; returns the summary.

    With ``out_dir``, writes ``out_dir/tracks/<track>.json`` as each track finishes and
    ``out_dir/summary.json`` at the end (plus ``out_dir/reports/<track>/`` with ``report``).
    Raises DataError (before any model work) when the folder or a track is not Slakh-layout.
    """
    from .tables import summarize

    tracks = find_tracks(data)
    if settings.limit is not None:
        tracks = tracks[:settings.limit]
    for t in tracks:
        check_track(t)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        (out / "tracks").mkdir(parents=True, exist_ok=True)
    ev = TrackEvaluator(separator, settings, out / "reports" if (out is not None and settings.report) else None)
    machine = _machine()  # with the load average before the work
    t0 = time.perf_counter()
    results = []
    for i, t in enumerate(tracks):
        r = ev.evaluate(t)
        results.append(r)
        if out is not None:
            (out / "tracks" / f"{t.name}.json").write_text(json.dumps(r, indent=1))
        if progress:
            done = [k for k, v in r["sets"].items() if v["status"] == "evaluated"]
            progress(f"[{i + 1}/{len(tracks)}] {t.name}: sets {','.join(done) or 'none'} in {r['seconds']:.1f} s")
    elapsed = time.perf_counter() - t0
    options = getattr(separator, "options", None)
    info = {"data": str(data), "model": separator.model_name, "model_config": _describe_config(separator),
            "separator_options": asdict(options) if is_dataclass(options) else None,
            "settings": asdict(settings), "basic_pitch": ev.basic_pitch_status, "versions": _versions(),
            "torch_threads": _torch_threads(), "machine": machine,
            "seconds": _num(elapsed), "n_tracks": len(tracks)}
    summary = summarize(results, info)
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
