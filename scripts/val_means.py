"""Print per-class and class-mean SI-SDR and onset F1 of `stemscribe evaluate` summaries
(the numbers a candidate model is selected on, e.g. on data/val5_sf).

    python scripts/val_means.py results/a results/b ...
    python scripts/val_means.py --paired results/base results/a results/b ...

With ``--paired BASE`` each further result folder is also compared with BASE track by track on
the 5-instrument mixtures: for every track present in both, the difference of the track's class
mean (SI-SDR in dB, onset F1), then the mean of those differences, its standard error and how
many tracks improved. A gain smaller than about two standard errors is not resolved by the set.
"""
import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stemscribe.classes import PAPER_SETS  # noqa: E402
from stemscribe.evaluate.tables import _class_mean, _mean  # noqa: E402

METRICS = ("si_sdr", "onset_f1")


def track_class_means(result_dir: Path) -> dict[str, dict[str, float]]:
    """Per track (by file name), the mean over the 5-instrument set's classes of each metric
    in METRICS, from ``result_dir/tracks/*.json``; classes without a value are left out."""
    out = {}
    for f in sorted((result_dir / "tracks").glob("*.json")):
        systems = json.loads(f.read_text()).get("sets", {}).get("5", {}).get("systems", {})
        model = systems.get("model", {})
        row = {}
        for m in METRICS:
            vals = [model[c][m] for c in PAPER_SETS[5] if c in model and model[c].get(m) is not None]
            if vals:
                row[m] = statistics.fmean(vals)
        if row:
            out[f.name] = row
    return out


def paired(base: Path, other: Path) -> dict[str, tuple[float, float, int, int]]:
    """For each metric: (mean of per-track differences other - base, its standard error,
    tracks improved, tracks compared) over the tracks both folders scored."""
    a, b = track_class_means(base), track_class_means(other)
    res = {}
    for m in METRICS:
        d = [b[t][m] - a[t][m] for t in sorted(set(a) & set(b)) if m in a[t] and m in b[t]]
        if len(d) < 2:
            raise SystemExit(f"{other}: fewer than 2 tracks in common with {base} for {m}")
        se = statistics.stdev(d) / math.sqrt(len(d))
        res[m] = (statistics.fmean(d), se, sum(x > 0 for x in d), len(d))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--paired", type=Path, default=None, help="compare each folder with this one, track by track")
    args = ap.parse_args()
    dirs = ([args.paired] if args.paired else []) + args.results
    for d in dirs:
        s = json.loads((d / "summary.json").read_text())
        sdr = [_mean(s, 5, "model", c, "si_sdr") for c in PAPER_SETS[5]]
        on = [_mean(s, 5, "model", c, "onset_f1") for c in PAPER_SETS[5]]
        print(f"{d}: SI-SDR {' / '.join(f'{v:.2f}' for v in sdr)} mean {_class_mean(sdr):.3f} | "
              f"onset {' / '.join(f'{v:.3f}' for v in on)} mean {_class_mean(on):.4f}")
    if args.paired:
        for d in args.results:
            r = paired(args.paired, d)
            (ms, ss, ws, n), (mo, so, wo, _) = r["si_sdr"], r["onset_f1"]
            print(f"{d} - {args.paired} over {n} tracks: SI-SDR {ms:+.4f} ± {ss:.4f} dB ({ws} better) | "
                  f"onset F1 {mo:+.5f} ± {so:.5f} ({wo} better)")


if __name__ == "__main__":
    main()
