"""Fine-tune a checkpoint on a packed data folder for a fixed wall-clock budget (a GPU lease).

    python scripts/train_from_pack.py --pack .pack/train --init src/stemscribe/weights/default.pt \
        --out runs/gpu --minutes 8 --batch-size 32 --lr 2e-4 --workers 14

The pack comes from ``scripts/pack_training_data.py``. This is the loss and update of
``stemscribe.train`` (``compute_losses``, AdamW, gradient clipping) with what a short lease on a
fast accelerator needs instead of its step-budgeted loop: mixtures drawn by ``--workers`` processes
(one ``MixtureSampler`` each, seeded per worker), a schedule over wall-clock time (linear warm-up
over ``--warmup-steps``, then cosine from ``--lr`` to ``--lr-min`` as the budget runs out), an
exponential moving average of the weights, and weights-only float16 checkpoints: ``mid.pt`` at half the
budget, ``last.pt`` and ``ema.pt`` at the end (also after a crash or SIGTERM). Each carries the
configs (the recipe in ``train_config``) and the ``--init`` checkpoint's inference settings; run
``stemscribe tune`` on the one you keep. No validation runs here: select on validation data
afterwards.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from stemscribe.checkpoint import TUNED_KEYS, load_model, save_checkpoint  # noqa: E402
from stemscribe.data.dataset import CachedTrack, notes_from_rows  # noqa: E402
from stemscribe.model.config import TrainConfig, from_dict  # noqa: E402
from stemscribe.train import SamplerStream, compute_losses, lr_at, mixture_sampler, to_tensors  # noqa: E402


def load_pack(folder: Path, class_names: list[str]) -> list[CachedTrack]:
    """Decode a pack into in-memory tracks (float16 class audio, notes)."""
    import soundfile as sf

    notes = json.loads((folder / "notes.json").read_text())
    out = []
    for name, per_class in notes.items():
        audio = {}
        for c in class_names:
            p = folder / name / f"{c}.ogg"
            if p.is_file():
                x, _ = sf.read(str(p), dtype="float32")
                audio[c] = x.astype(np.float16)
        if audio:
            out.append(CachedTrack(name, audio, notes_from_rows(per_class), max(len(a) for a in audio.values())))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", required=True, nargs="+", help="one or more pack folders (pooled)")
    ap.add_argument("--init", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lr-min", type=float, default=1e-5)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--remix-prob", type=float, default=None)
    ap.add_argument("--eq-db", type=float, default=None)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--no-mid", action="store_true", help="do not write mid.pt")
    args = ap.parse_args()
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True

    model, cfg, ck = load_model(args.init)
    tc = from_dict(TrainConfig, ck["train_config"]) if ck.get("train_config") else TrainConfig()
    tc = replace(tc, preset=f"{tc.preset}+pack", batch_size=args.batch_size, lr=args.lr, lr_min=args.lr_min,
                 warmup_steps=args.warmup_steps, seed=args.seed, steps=0, threads=0,
                 remix_prob=tc.remix_prob if args.remix_prob is None else args.remix_prob,
                 eq_db=tc.eq_db if args.eq_db is None else args.eq_db)
    settings = {k: ck["extra"][k] for k in TUNED_KEYS if k in ck.get("extra", {})}

    tracks = [t for p in args.pack for t in load_pack(Path(p), cfg.class_map.names)]
    secs = sum(t.n_samples for t in tracks) / cfg.sample_rate
    print(f"pack {' '.join(args.pack)}: {len(tracks)} excerpts, {secs / 60:.1f} min; device {dev}; "
          f"setup {time.time() - t_start:.1f} s", flush=True)
    stream = SamplerStream(functools.partial(mixture_sampler, tracks, cfg, tc), tc.batch_size, args.seed * 1000003)
    loader = torch.utils.data.DataLoader(stream, batch_size=None,
                                         num_workers=args.workers, pin_memory=dev.type == "cuda",
                                         prefetch_factor=4 if args.workers else None,
                                         persistent_workers=False)
    batches = iter(loader)     # fork the workers before CUDA is touched

    model.to(dev).train()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    rng = np.random.default_rng(args.seed + 7)
    budget = args.minutes * 60.0
    step, mid_saved, seen = 0, False, 0

    def save(name: str, m: torch.nn.Module, note: str) -> None:
        t = replace(tc, steps=step)
        save_checkpoint(out / name, m, cfg, t, int(ck.get("step", 0)) + step,
                        extra={**settings, "source": f"{args.init} + {step} steps on {' '.join(args.pack)} ({note})"}, half=True)
        print(f"saved {out / name} at step {step}", flush=True)

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    logf = open(out / "log.jsonl", "a")
    t0 = time.time()
    try:
        while True:
            el = time.time() - t0
            frac = el / budget
            if frac >= 1.0:
                break
            lr = lr_at(step, tc, progress=frac)
            for g in opt.param_groups:
                g["lr"] = lr
            t = to_tensors(next(batches), dev)
            ls = compute_losses(model, cfg, tc, t, rng)
            opt.zero_grad(set_to_none=True)
            ls["total"].backward()
            gn = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            with torch.no_grad():
                d = min(args.ema, (1 + step) / (10 + step))
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - d)
                for be, bm in zip(ema.buffers(), model.buffers()):
                    be.copy_(bm)
            step += 1
            seen += tc.batch_size
            if step % args.log_every == 0:
                el = time.time() - t0
                rec = {"step": step, "lr": lr, "elapsed_s": round(el, 1), "examples_per_s": round(seen / el, 1),
                       "grad_norm": round(float(gn), 3),
                       **{k: round(v.item(), 5) for k, v in ls.items() if not k.startswith("_")}}
                logf.write(json.dumps(rec) + "\n"); logf.flush()
                print(" ".join(f"{k}={v}" for k, v in rec.items()), flush=True)
            if not mid_saved and not args.no_mid and frac >= 0.5:
                save("mid.pt", model, "half the budget")
                mid_saved = True
    except (KeyboardInterrupt, Exception):
        traceback.print_exc()
    finally:
        if step:
            save("last.pt", model, "end")
            save("ema.pt", ema, f"EMA {args.ema}")
        logf.close()
        print(f"{step} steps in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
