"""Regenerate the shipped model's regression reference (tests/data/NAME_reference.npz).

The reference is the model's output on the first 3 s of the bundled example song: a few
downsampled numbers per stem, the activity curves and the note counts. The test suite runs
the model again and compares; a change to the front end, the network or the weights that
alters outputs fails there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from shipped_reference import reference_outputs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="default")
    args = ap.parse_args()
    out = ROOT / "tests" / "data" / f"{args.name}_reference.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **reference_outputs(args.name))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
