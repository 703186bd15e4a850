"""Pack excerpts of cached training tracks into a small, lossy, self-contained folder.

    python scripts/pack_training_data.py data/cache/v1-16000/train_c data/cache/v1-16000/train_r \
        --out .pack/train --megabytes 40 --excerpt-seconds 10 --seed 0

For training on a machine that can take only a few tens of MB of data along (the GPU machine
of this workplace: 64 MiB of working tree per call, no access to our renders). Each excerpt keeps
every class of its track, each class Opus-coded mono at the cache's rate (``--quality``, 0-1, is
libsndfile's compression level: 0.92 is about 25 kbit/s, a magnitude-spectrum SNR of about 17 dB),
and the notes that sound in it, shifted to the excerpt's start, in ``notes.json``. The mixture of
an excerpt is the sum of its decoded classes, so targets and input stay consistent.
``scripts/train_from_pack.py`` reads the folder back into the training sampler.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("caches", nargs="+", help="cache folders (data/cache/v1-16000/NAME) of training splits")
    ap.add_argument("--out", required=True)
    ap.add_argument("--megabytes", type=float, default=40.0)
    ap.add_argument("--excerpt-seconds", type=float, default=10.0)
    ap.add_argument("--quality", type=float, default=0.92)
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", nargs="*", default=[], help="earlier packs whose tracks to leave out")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        sys.exit(f"{out}: already exists; give another --out")
    if any(Path(c).name in ("validation", "val5", "val5_sf", "test") for c in args.caches):
        sys.exit("pack training splits only: the validation and test splits are never trained on")
    tracks = sorted(d for c in args.caches for d in Path(c).iterdir() if (d / "done").is_file())
    taken = {n for e in args.exclude for n in json.loads((Path(e) / "notes.json").read_text())}
    tracks = [d for d in tracks if f"{d.parent.name}-{d.name}" not in taken]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(tracks))
    sr, n = args.sample_rate, int(args.excerpt_seconds * args.sample_rate)
    out.mkdir(parents=True)
    notes_out: dict[str, dict] = {}
    total, budget = 0, args.megabytes * 1e6
    for k in order:
        d = tracks[k]
        audio = {p.stem: np.load(p, mmap_mode="r") for p in sorted(d.glob("*.npy"))}
        if not audio:
            continue
        length = max(len(a) for a in audio.values())
        start = int(rng.integers(0, max(1, length - n)))
        t0, t1 = start / sr, (start + n) / sr
        name = f"{d.parent.name}-{d.name}"
        files = {}
        for c, a in audio.items():
            x = np.asarray(a[start:start + n], np.float32)
            if len(x) == 0 or not np.any(x):
                continue
            b = io.BytesIO()
            sf.write(b, x, sr, format="OGG", subtype="OPUS", compression_level=args.quality)
            files[c] = b.getvalue()
        if not files:
            continue
        size = sum(len(v) for v in files.values())
        if total + size > budget:
            break
        (out / name).mkdir()
        for c, v in files.items():
            (out / name / f"{c}.ogg").write_bytes(v)
        raw = json.loads((d / "notes.json").read_text())
        notes_out[name] = {c: [[p, round(s - t0, 4), round(e - t0, 4), v] for p, s, e, v in rows if e > t0 and s < t1]
                           for c, rows in raw.items() if c in files}
        total += size
    (out / "notes.json").write_text(json.dumps(notes_out))
    secs = len(notes_out) * args.excerpt_seconds
    print(f"wrote {out}: {len(notes_out)} excerpts, {secs / 60:.1f} min, {total / 1e6:.1f} MB of audio")


if __name__ == "__main__":
    main()
