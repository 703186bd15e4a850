"""The ablation table: the paper's presets, trained with one budget, scored on one test set.

Each run folder ``ROOT/PRESET`` holds the training run (``best.pt``, ``log.jsonl``) and its
evaluation (``eval/summary.json`` from ``stemscribe evaluate --sets 5``). The table gives per
class SI-SDR (dB) and note onset F1 on the 5-instrument mixtures, with the best of each column in
bold (where the column has more than one value); a task a preset was not trained for is a dash. Usage::

    python -m stemscribe.evaluate.ablation runs/ablation default mi tr dc cerberus chimera mi_tr dc_tr

With ``--seeds ROOT,ROOT,...`` (one root per training seed, same presets and budget) it prints
instead, per preset, the mean over classes of SI-SDR and of onset F1 for each seed, and their mean
and sample standard deviation over the seeds::

    python -m stemscribe.evaluate.ablation --seeds runs/ablation,runs/ablation_seed1 default mi tr
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from ..classes import PAPER_SETS
from .tables import DASH, _class_mean, _db, _f1, _mean

LABELS = {"default": "joint (default: DC+MI+TR+ACT)", "cerberus": "Cerberus (DC+MI+TR)", "chimera": "Chimera (DC+MI)",
          "mi_tr": "MI+TR", "dc_tr": "DC+TR", "mi": "MI only", "dc": "DC only", "tr": "TR only"}


def load_run(root: Path, preset: str) -> dict | None:
    """The evaluation summary of ``root/preset`` with its training step count, or None when not evaluated."""
    s = root / preset / "eval" / "summary.json"
    if not s.is_file():
        return None
    summary = json.loads(s.read_text())
    steps = None
    log = root / preset / "log.jsonl"
    if log.is_file():
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        best = [x for x in lines if x.get("best")]
        steps = best[-1]["step"] if best else None
    summary["best_step"] = steps
    return summary


def table(root: str | Path, presets: list[str], k: int = 5) -> str:
    """Markdown: one row per preset, SI-SDR and onset F1 per class of set ``k`` and their means."""
    root = Path(root)
    classes = PAPER_SETS[k]
    runs = {p: load_run(root, p) for p in presets}
    rows = {}
    for p, s in runs.items():
        if s is None:
            continue
        sdr = [_mean(s, k, "model", c, "si_sdr") for c in classes]
        f1 = [_mean(s, k, "model", c, "onset_f1") for c in classes]
        rows[p] = (sdr + [_class_mean(sdr)], f1 + [_class_mean(f1)], s["best_step"])
    if not rows:
        return f"no evaluated runs under {root}\n"
    ncol = len(classes) + 1
    best_sdr = [max((r[0][i] for r in rows.values() if r[0][i] is not None), default=None) for i in range(ncol)]
    best_f1 = [max((r[1][i] for r in rows.values() if r[1][i] is not None), default=None) for i in range(ncol)]

    def column(r, i):
        return {r_[i] for r_ in r if r_[i] is not None}

    def fmt(v, best, f, values):
        # Bold: the best of a column, unless the column does not tell the presets apart.
        return DASH if v is None else (f"**{f(v)}**" if v == best and len(values) > 1 else f(v))

    head = ["preset", "best step", *(f"{c} SI-SDR" for c in classes), "mean SI-SDR",
            *(f"{c} onset F1" for c in classes), "mean onset F1"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p, (sdr, f1, step) in rows.items():
        cells = [LABELS.get(p, p), str(step) if step is not None else DASH,
                 *(fmt(v, best_sdr[i], _db, column([r[0] for r in rows.values()], i)) for i, v in enumerate(sdr)),
                 *(fmt(v, best_f1[i], _f1, column([r[1] for r in rows.values()], i)) for i, v in enumerate(f1))]
        lines.append("| " + " | ".join(cells) + " |")
    missing = [p for p, s in runs.items() if s is None]
    if missing:
        lines.append(f"\nNot evaluated: {', '.join(missing)}.")
    return "\n".join(lines) + "\n"


def _spread(values: list[float], f) -> str:
    """``mean ± sd (v1, v2, ...)``; the sd needs two values."""
    if not values:
        return DASH
    m = statistics.fmean(values)
    sd = f" ± {f(statistics.stdev(values))}" if len(values) > 1 else ""
    return f"{f(m)}{sd} ({', '.join(f(v) for v in values)})"


def seeds_table(roots: list[str | Path], presets: list[str], k: int = 5) -> str:
    """Markdown: per preset, the class-mean SI-SDR and onset F1 of set ``k`` over training seeds
    (one evaluated ``root/preset`` per seed; a seed whose run is missing is left out)."""
    classes = PAPER_SETS[k]
    head = ["preset", "seeds", "mean SI-SDR (dB): mean ± sd (per seed)", "mean onset F1: mean ± sd (per seed)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in presets:
        runs = [s for s in (load_run(Path(r), p) for r in roots) if s is not None]
        sdr = [_class_mean([_mean(s, k, "model", c, "si_sdr") for c in classes]) for s in runs]
        f1 = [_class_mean([_mean(s, k, "model", c, "onset_f1") for c in classes]) for s in runs]
        lines.append("| " + " | ".join([LABELS.get(p, p), str(len(runs)),
                                        _spread([v for v in sdr if v is not None], lambda v: f"{v:.2f}"),
                                        _spread([v for v in f1 if v is not None], lambda v: f"{v:.3f}")]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "--seeds":
        print(seeds_table(argv[1].split(","), argv[2:]), end="")
        return 0
    if len(argv) < 2 or argv[0].startswith("-"):
        print("usage: python -m stemscribe.evaluate.ablation [--seeds ROOT,ROOT,...] ROOT PRESET...",
              file=sys.stderr)
        return 2
    print(table(argv[0], argv[1:]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
