"""Aggregate per-track results into the summary JSON, and write it as markdown tables.

Means are over tracks of per-track scores (one score per track, class and set); undefined scores
(a silent reference, a reference without notes, a stem never audible) are left out of the mean
and the number of tracks that entered each mean is kept next to it (``n``).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..classes import DRUM_CLASSES, PAPER_SETS, ClassMap
from . import published
from .runner import BP_MIX, BP_SEP, MODEL

SYSTEM_LABELS = {"mixture": "mixture (no separation)", "irm": "ideal ratio mask (oracle)",
                 "ibm": "ideal binary mask (oracle)", BP_MIX: "basic-pitch on the mixture",
                 BP_SEP: "basic-pitch on our stems"}
DASH = "–"


def set_label(k: int) -> str:
    """"piano+guitar" for set 2, "N instruments" for larger sets (the paper's row names)."""
    return "+".join(PAPER_SETS[k]) if k == 2 else f"{k} instruments ({'+'.join(PAPER_SETS[k])})"


def _stats(values: list[float]) -> dict:
    v = np.array(values, float)
    if v.size == 0:
        return {"mean": None, "median": None, "n": 0}
    return {"mean": round(float(v.mean()), 4), "median": round(float(np.median(v)), 4), "n": int(v.size)}


def summarize(track_results: Iterable[dict], info: dict) -> dict:
    """The summary JSON: ``info`` (config, model, settings) plus counts, means and published numbers.

    ``means[set][system][class][metric] = {"mean", "median", "n"}``; ``out_of_set[set][class][metric]``
    likewise for the model's classes outside the set.
    """
    track_results = list(track_results)
    sets = [int(k) for k in info["settings"]["sets"]]
    counts, means, leak = {}, {}, {}
    for k in sets:
        key = str(k)
        entries = [r["sets"][key] for r in track_results if key in r["sets"]]
        done = [e for e in entries if e["status"] == "evaluated"]
        counts[key] = {
            "tracks_evaluated": len(done),
            "tracks_skipped": len(entries) - len(done),
            "skip_reasons": dict(Counter(e["reason"] for e in entries if e["status"] != "evaluated")),
            "silent_references": dict(Counter(c for e in done for c in e["silent_references"])),
            "no_reference_notes": dict(Counter(c for e in done for c in e["no_reference_notes"])),
        }
        pool: dict = {}
        for e in done:
            for sys, per_class in e["systems"].items():
                for c, m in per_class.items():
                    for name, v in m.items():
                        lst = pool.setdefault(sys, {}).setdefault(c, {}).setdefault(name, [])
                        if v is not None:
                            lst.append(v)
        means[key] = {sys: {c: {name: _stats(v) for name, v in m.items()} for c, m in per_class.items()}
                      for sys, per_class in pool.items()}
        lk: dict = {}
        for e in done:
            for c, m in e.get("out_of_set", {}).items():
                for name, v in m.items():
                    if v is not None:
                        lk.setdefault(c, {}).setdefault(name, []).append(v)
        leak[key] = {c: {name: _stats(v) for name, v in m.items()} for c, m in lk.items()}
    timing = {part: round(sum(e["seconds"][part] or 0.0 for r in track_results for e in r["sets"].values()
                              if e["status"] == "evaluated"), 2)
              for part in ("separate", "metrics", "basic_pitch")}
    return {**info, "timing": timing, "counts": counts, "means": means, "out_of_set": leak,
            "published": {"cerberus": {"source": published.CERBERUS_SOURCE,
                                       "cells": {str(k): {c: cell._asdict() for c, cell in v.items()}
                                                 for k, v in published.CERBERUS.items()}},
                          "mt3": published.MT3},
            "tracks": [r["track"] for r in track_results]}


def _mean(summary: dict, k: int, system: str, cls: str, metric: str) -> float | None:
    try:
        return summary["means"][str(k)][system][cls][metric]["mean"]
    except KeyError:
        return None


def _db(v: float | None) -> str:
    return DASH if v is None else f"{v:.1f}"


def _f1(v: float | None) -> str:
    if v is None:
        return DASH
    return f"{v:.2f}".lstrip("0") if v < 1 else "1.00"


def _cell(sdr: float | None, on: float | None, onoff: float | None, drum: bool = False) -> str:
    return f"{_db(sdr)} / {_f1(on)} / {DASH if drum else _f1(onoff)}"


def _class_mean(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v and len(v) == len(values) else None


def _instruments(summary: dict) -> list[str]:
    sets = [int(k) for k in summary["settings"]["sets"]]
    return [c for c in PAPER_SETS[max(sets)]]


def _evaluated(summary: dict, k: int) -> bool:
    return summary["counts"][str(k)]["tracks_evaluated"] > 0


def paper_table(summary: dict, class_map: ClassMap | None = None) -> list[str]:
    """Rows = sets, columns = instruments (+ mean), cells SDR / onset F1 / onset+offset F1; the
    published Cerberus row under each of our rows."""
    insts = _instruments(summary)
    is_drum = {c: c == "drums" for c in insts}
    if class_map is not None:
        is_drum = {c: (c in class_map.names and class_map[c].is_drum) for c in insts}
    lines = [f"| set | system | {' | '.join(insts)} | mean of the set |",
             "|" + "---|" * (len(insts) + 3)]
    for k in (int(s) for s in summary["settings"]["sets"]):
        names = PAPER_SETS[k]
        cells, means = [], {"sdr": [], "on": [], "onoff": []}
        for c in insts:
            if c not in names or not _evaluated(summary, k):
                cells.append("")
                continue
            sdr = _mean(summary, k, MODEL, c, "sdr")
            on = _mean(summary, k, MODEL, c, "onset_f1")
            onoff = _mean(summary, k, MODEL, c, "onset_offset_f1")
            cells.append(_cell(sdr, on, onoff, is_drum[c]))
            means["sdr"].append(sdr)
            means["on"].append(on)
            if not is_drum[c]:
                means["onoff"].append(onoff)
        mean_cell = (_cell(_class_mean(means["sdr"]), _class_mean(means["on"]), _class_mean(means["onoff"]))
                     if _evaluated(summary, k) else "not evaluated")
        lines.append(f"| {set_label(k)} | {summary['model']} | {' | '.join(cells)} | {mean_cell} |")
        pub_cells = []
        for c in insts:
            p = published.cerberus_cell(k, c)
            pub_cells.append(_cell(*p, drum=is_drum[c]) if p else "")
        p = published.cerberus_cell(k, "mean")
        pub_mean = _cell(*p) if p else ""
        if any(pub_cells) or pub_mean:
            lines.append(f"| | Cerberus (paper) | {' | '.join(pub_cells)} | {pub_mean} |")
        else:
            lines.append(f"| | Cerberus (paper) | {' | '.join(pub_cells)} | not in the anchors |")
    return lines


def _system_rows(summary: dict, systems: list[str], fmt: Callable[[dict, int, str, str], str],
                 extra_column: str | None = None) -> list[str]:
    insts = _instruments(summary)
    cols = insts + ([extra_column] if extra_column else [])
    lines = [f"| set | system | {' | '.join(cols)} |", "|" + "---|" * (len(cols) + 2)]
    for k in (int(s) for s in summary["settings"]["sets"]):
        if not _evaluated(summary, k):
            lines.append(f"| {set_label(k)} | not evaluated |" + " |" * len(cols))
            continue
        first = True
        for sys in systems:
            if sys not in summary["means"][str(k)]:
                continue
            label = summary["model"] if sys == MODEL else SYSTEM_LABELS.get(sys, sys)
            have = summary["means"][str(k)][sys]
            cells = [fmt(summary, k, sys, c) if (c in PAPER_SETS[k] or (c == extra_column and c in have)) else ""
                     for c in cols]
            lines.append(f"| {set_label(k) if first else ''} | {label} | {' | '.join(cells)} |")
            first = False
    return lines


def separation_table(summary: dict) -> list[str]:
    """SI-SDR / SI-SDRi / SDR / SIR / SAR per set, system and instrument."""
    def fmt(s: dict, k: int, sys: str, c: str) -> str:
        vals = [_mean(s, k, sys, c, m) for m in ("si_sdr", "si_sdri", "sdr", "sir", "sar")]
        if sys == "mixture":
            vals[1] = 0.0 if vals[0] is not None else None  # by definition
        return " / ".join(_db(v) for v in vals)
    return _system_rows(summary, [MODEL, "mixture", "irm", "ibm"], fmt)


def transcription_table(summary: dict) -> list[str]:
    """Onset F1 / onset+offset F1 / frame F1 of the model and of basic-pitch."""
    def fmt(s: dict, k: int, sys: str, c: str) -> str:
        vals = [_mean(s, k, sys, c, m) for m in ("onset_f1", "onset_offset_f1", "frame_f1")]
        if c == "drums":
            return f"{_f1(vals[0])} / {DASH} / {DASH}" if sys == MODEL else "no drums"
        return " / ".join(_f1(v) for v in vals)
    return _system_rows(summary, [MODEL, BP_MIX, BP_SEP], fmt, extra_column="all")


def drum_table(summary: dict) -> list[str]:
    """Drum onset F1 per drum class (precision / recall / F1 of "overall")."""
    cols = list(DRUM_CLASSES)
    lines = [f"| set | {' | '.join(cols)} | overall P / R / F1 |", "|" + "---|" * (len(cols) + 2)]
    for k in (int(s) for s in summary["settings"]["sets"]):
        if "drums" not in PAPER_SETS[k] or not _evaluated(summary, k):
            continue
        cells = [_f1(_mean(summary, k, MODEL, "drums", f"drum_{c}_f1")) for c in cols]
        ov = " / ".join(_f1(_mean(summary, k, MODEL, "drums", f"drum_overall_{m}"))
                        for m in ("precision", "recall", "f1"))
        lines.append(f"| {set_label(k)} | {' | '.join(cells)} | {ov} |")
    return lines


def activity_table(summary: dict) -> list[str]:
    """Activity F1 (and the fraction of frames audible in the reference) per set and instrument."""
    insts = _instruments(summary)
    lines = [f"| set | {' | '.join(insts)} |", "|" + "---|" * (len(insts) + 1)]
    for k in (int(s) for s in summary["settings"]["sets"]):
        if not _evaluated(summary, k):
            continue
        cells = []
        for c in insts:
            if c not in PAPER_SETS[k]:
                cells.append("")
                continue
            f1 = _mean(summary, k, MODEL, c, "activity_f1")
            aud = _mean(summary, k, MODEL, c, "audible_fraction")
            cells.append(f"{_f1(f1)} ({DASH if aud is None else f'{100 * aud:.0f} %'} audible)")
        lines.append(f"| {set_label(k)} | {' | '.join(cells)} |")
    return lines


def leakage_table(summary: dict) -> list[str]:
    """What the model puts in classes outside the set: level vs the mixture, time marked active."""
    lines = ["| set | class | level vs mixture (dB) | marked active | notes per minute |", "|---|---|---|---|---|"]
    for k in (int(s) for s in summary["settings"]["sets"]):
        for c, m in summary.get("out_of_set", {}).get(str(k), {}).items():
            lvl = m.get("level_db", {}).get("mean")
            act = m.get("active_fraction", {}).get("mean")
            npm = m.get("notes_per_minute", {}).get("mean")
            lines.append(f"| {set_label(k)} | {c} | {_db(lvl)} | {DASH if act is None else f'{100 * act:.0f} %'} | "
                         f"{DASH if npm is None else f'{npm:.0f}'} |")
    return lines


def counts_table(summary: dict) -> list[str]:
    lines = ["| set | tracks evaluated | tracks skipped (why) | silent references | references without notes |",
             "|---|---|---|---|---|"]

    def fmt(d: dict) -> str:
        return ", ".join(f"{k}: {v}" for k, v in d.items()) or "none"

    for k in (int(s) for s in summary["settings"]["sets"]):
        c = summary["counts"][str(k)]
        lines.append(f"| {set_label(k)} | {c['tracks_evaluated']} | {c['tracks_skipped']} "
                     f"({fmt(c['skip_reasons'])}) | {fmt(c['silent_references'])} | {fmt(c['no_reference_notes'])} |")
    return lines


def _machine_text(summary: dict) -> str:
    m = summary.get("machine")
    if not m:
        return ""
    return (f" on {m['cpu']} ({m['usable_cores']} cores, {summary.get('torch_threads', '?')} torch threads, "
            f"{m['gpu'] or 'no GPU'}; load average {m['load_average_1m']} at the start)")


def markdown(summary: dict, class_map: ClassMap | None = None, command: str | None = None) -> str:
    """The whole results page: paper-style table first, then the detail tables and the settings."""
    s = summary["settings"]
    crop = "whole tracks" if s["seconds"] is None else f"first {s['seconds']:g} s of each track"
    bp = summary.get("basic_pitch", "not requested")
    out = ["# stemscribe evaluation results", ""]
    if command:
        out += [f"Regenerate with `{command}` (see docs/EVALUATION.md).", ""]
    n = summary["n_tracks"]
    out += [f"Model `{summary['model']}` on `{summary['data']}`: {n} track{'' if n == 1 else 's'}, {crop}; "
            f"metrics at {s['eval_rate']} Hz. Evaluation took {summary['seconds']:.0f} s "
            f"(separation {summary['timing']['separate']:.0f} s, metrics {summary['timing']['metrics']:.0f} s, "
            f"basic-pitch {summary['timing']['basic_pitch']:.0f} s){_machine_text(summary)}.", "",
            "## Paper table: SDR (dB) / onset F1 / onset+offset F1", "",
            *paper_table(summary, class_map), "",
            "Means over tracks. SDR: BSS Eval (bss_eval_sources definitions, fast_bss_eval, one 512-tap "
            "distortion filter over the whole crop, not museval's 1 s windows). Onset F1: mir_eval, 50 ms onset "
            "tolerance; onset+offset F1: offset within 20 % of the note or 50 ms. Drums: onset F1 after mapping "
            "GM notes to kick/snare/hi-hat/toms/cymbals; no offsets. The Cerberus rows are the published numbers "
            f"({published.CERBERUS_SOURCE}); its piano+guitar network is published only as the mean of both "
            "instruments. Our test data are not Slakh2100 unless the data folder says so: compare with care.", "",
            "## Separation: SI-SDR / SI-SDR improvement / SDR / SIR / SAR (dB)", "",
            *separation_table(summary), "",
            "The oracle masks use the true stems (upper bounds for a spectrogram-masking model with a "
            f"{s['oracle_n_fft']}-point STFT, hop {s['oracle_hop']}, at {s['eval_rate']} Hz).", "",
            "## Transcription: onset F1 / onset+offset F1 / frame F1", "",
            *transcription_table(summary), "",
            f"basic-pitch: {bp}" + (f", run only on: {'; '.join(set_label(k) for k in s.get('basic_pitch_sets') or [])} "
                                    "(`--basic-pitch-sets` for more)" if bp == "ok" else "") +
            ". It does not tell instruments apart: its transcription of the mixture is "
            "scored against each instrument's notes (its notes of the other instruments count as false "
            "positives) and, in the \"all\" column, against the union of the set's pitched parts. "
            f"For reference, MT3 reports onset F1 {published.MT3['onset_f1']:.2f} and onset+offset F1 "
            f"{published.MT3['onset_offset_f1']:.2f} on all Slakh2100 instruments.", "",
            "## Drums: onset F1 per drum class", "", *drum_table(summary), "",
            "## Activity: frame F1 against where the reference stem is audible", "", *activity_table(summary), "",
            f"Audible: the stem's RMS over {1000 * s['activity_window']:.0f} ms is within "
            f"{-s['activity_threshold_db']:.0f} dB of the whole mixture's RMS. The model's activity is its "
            "smoothed segments.", ""]
    leak = leakage_table(summary)
    if len(leak) > 2:
        out += ["## Leakage into classes outside the set", "", *leak, "",
                "A perfect model leaves these silent: level is the stem's RMS relative to the mixture's (a "
                "silent stem counts as -120 dB).", ""]
    out += ["## Counts", "", *counts_table(summary), "",
            f"Silent references (RMS below {s['silence_db']:.0f} dBFS in the crop) are left out of the "
            "separation means; references without notes are left out of the transcription means.", "",
            "## Settings", "", "```json",
            json.dumps({"settings": s, "model": summary["model"], "versions": summary.get("versions", {})},
                       indent=1), "```", ""]
    return "\n".join(out)


def write_markdown(summary: dict, path: str | Path, class_map: ClassMap | None = None,
                   command: str | None = None) -> Path:
    """Write ``markdown(summary)`` to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(summary, class_map, command))
    return path
