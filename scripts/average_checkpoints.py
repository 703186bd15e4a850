"""Average the weights of several checkpoints of one config into a new checkpoint.

    python scripts/average_checkpoints.py runs/a/best.pt runs/b/best.pt --out runs/soup.pt \
        [--settings-from runs/a/best_tuned.pt] [--half]

The result carries the first checkpoint's configs and step; ``--settings-from`` copies a tuned
checkpoint's inference settings (thresholds, gates, mask exponents) into it, for a quick look
before ``stemscribe tune`` is run on the average itself. ``--half`` stores the weights in float16,
as ``scripts/ship_model.py`` ships them, so a candidate can be scored exactly as it would ship (one
checkpoint given alone is converted as it is). Refuses to overwrite an existing file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stemscribe.checkpoint import TUNED_KEYS, average_checkpoints, read_checkpoint, save_checkpoint  # noqa: E402
from stemscribe.model.config import TrainConfig, from_dict  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--settings-from", default=None)
    ap.add_argument("--half", action="store_true", help="store the weights in float16, as shipped")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        sys.exit(f"{out}: already exists; give another --out")
    model, cfg, first = average_checkpoints(args.checkpoints)
    extra = {"averaged": [str(p) for p in args.checkpoints]}
    if args.settings_from:
        tuned = read_checkpoint(args.settings_from)["extra"]
        extra.update({k: tuned[k] for k in TUNED_KEYS if k in tuned})
    tc = from_dict(TrainConfig, first["train_config"]) if first.get("train_config") else None
    save_checkpoint(out, model, cfg, tc, first["step"], extra=extra, half=args.half)
    print(f"wrote {out}: mean of {len(args.checkpoints)} checkpoints")


if __name__ == "__main__":
    main()
