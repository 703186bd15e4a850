"""`stemscribe train`: train a model from a preset."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a preset",
                       description="Train the joint network (or one of the paper's ablations) on Slakh-layout data.")
    p.add_argument("--preset", default="default",
                   help="default, tiny, or an ablation: dc, mi, tr, chimera, mi_tr, dc_tr, cerberus (or a .yaml)")
    p.add_argument("--data", nargs="+", default=["data/train"], metavar="DIR", help="Slakh-layout training folders")
    p.add_argument("--val-data", nargs="*", default=["data/validation"], metavar="DIR",
                   help="Slakh-layout validation folders (never the test split)")
    p.add_argument("--out", default=None, help="run folder (default runs/PRESET)")
    p.add_argument("--cache", default="data/cache", help="where the 16 kHz training cache is kept")
    p.add_argument("--steps", type=int, default=None, help="number of optimiser steps (overrides the preset)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (overrides the preset)")
    p.add_argument("--warmup-steps", type=int, default=None, help="linear warm-up steps (overrides the preset)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init", default=None, help="start from the weights of this checkpoint")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--loader-workers", type=int, default=None, metavar="N",
                   help="processes drawing training batches in parallel (default 0: the training loop draws them)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop the training loop after this many seconds (the learning-rate schedule follows the "
                        "elapsed time, counting the time before a --resume; --steps still caps it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any training-config field, e.g. --set mi_snr_weight=1 (repeatable)")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from . import UserError
    from ..checkpoint import CheckpointError
    from ..data.slakh import DataError
    from ..presets import load_preset
    from ..train import train

    over = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size,
                              "lr": args.lr, "warmup_steps": args.warmup_steps, "threads": args.threads,
                              "seed": args.seed, "loader_workers": args.loader_workers,
                              "time_budget_s": args.time_budget}.items() if v is not None}
    try:
        mcfg, tcfg = load_preset(args.preset)
        tcfg = replace(tcfg, **over, **parse_overrides(args.set, tcfg))
    except ValueError as e:
        raise UserError(str(e)) from None
    val = [d for d in args.val_data if Path(d).exists()]
    missing = [d for d in args.val_data if not Path(d).exists()]
    if missing:
        print(f"stemscribe train: validation folder {', '.join(missing)} not found; validating on training data")
    try:
        res = train(mcfg, tcfg, args.data, val, args.out or f"runs/{tcfg.preset}", args.cache, args.resume,
                    args.device, args.init)
    except (DataError, CheckpointError) as e:
        raise UserError(str(e)) from None
    print(f"done: {res}")
    return 0


def parse_overrides(items: list[str], cfg) -> dict:
    """``["key=value", ...]`` -> typed overrides of the dataclass ``cfg``'s fields."""
    from dataclasses import fields

    from . import UserError

    types = {f.name: type(getattr(cfg, f.name)) for f in fields(cfg)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise UserError(f"--set {item}: expected KEY=VALUE with KEY one of {', '.join(sorted(types))}")
        kind = types[key]
        try:
            out[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
        except ValueError:
            raise UserError(f"--set {item}: {value!r} is not a valid {kind.__name__}") from None
    return out
