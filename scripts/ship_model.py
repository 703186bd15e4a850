"""Ship a trained checkpoint as a named model inside the package.

    python scripts/ship_model.py runs/default/best.pt --name default

Writes src/stemscribe/weights/NAME.pt (weights in float16, no optimizer state), records its
sha256 and training facts in weights/registry.json, then regenerates the regression reference
the test suite compares the shipped model against (tests/data/NAME_reference.npz).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stemscribe.checkpoint import TUNED_KEYS, load_model, save_checkpoint  # noqa: E402
from stemscribe.hub import REGISTRY_FILE, WEIGHTS_DIR, sha256  # noqa: E402
from stemscribe.model.config import TrainConfig, from_dict  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--name", default="default")
    ap.add_argument("--description", default=None,
                    help="default: 'joint separation + transcription + activity model (ARCH)'")
    args = ap.parse_args()
    model, cfg, ck = load_model(args.checkpoint)
    tc = from_dict(TrainConfig, ck["train_config"]) if ck.get("train_config") else None
    dest = WEIGHTS_DIR / f"{args.name}.pt"
    kept = ("metrics", "averaged", *TUNED_KEYS)   # what inference and the card use
    extra = {"source": str(args.checkpoint), **{k: ck["extra"][k] for k in kept if k in ck["extra"]}}
    save_checkpoint(dest, model, cfg, tc, ck["step"], extra=extra, half=True)
    reg = json.loads(REGISTRY_FILE.read_text()) if REGISTRY_FILE.is_file() else {}
    description = args.description or f"joint separation + transcription + activity model ({cfg.arch})"
    reg[args.name] = {"file": dest.name, "sha256": sha256(dest), "description": description,
                      "arch": cfg.arch, "preset": tc.preset if tc else None,
                      # the step counter the checkpoint carries (for an average, its first member's);
                      # the whole training history is in the model card
                      "checkpoint_step": ck["step"], "training": "docs/MODEL_CARD.md",
                      "size_mb": round(dest.stat().st_size / 1e6, 2)}
    REGISTRY_FILE.write_text(json.dumps(reg, indent=2) + "\n")
    print(f"shipped {dest} ({reg[args.name]['size_mb']} MB, sha256 {reg[args.name]['sha256'][:12]}...)")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_reference.py"), "--name", args.name], check=True)


if __name__ == "__main__":
    main()
