"""The training loop, readable top to bottom.

    stemscribe train --preset default --data data/train --val-data data/validation --out runs/default

One code path for every preset: the loss is w_dc*DC + w_mi*MI + w_tr*TR + w_act*ACT and a head
whose weight is 0 is not trained. Runs on CPU or CUDA; under ``torchrun`` (WORLD_SIZE > 1) it
wraps the model in DistributedDataParallel, each rank drawing its own mixtures, rank 0 logging,
validating and saving. ``OUT/last.pt`` is written every validation and on exit (resume with
``--resume``); ``OUT/best.pt`` keeps the best validation score; ``OUT/log.jsonl`` has every log line.
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import build_model, init_from, read_checkpoint, save_checkpoint
from .data.dataset import Batch, MixtureSampler, load_dataset
from .model.config import ModelConfig, TrainConfig, from_dict
from .model.losses import (activity_loss, deep_clustering_loss, mask_inference_loss, present_stems,
                           signal_to_noise_loss, transcription_loss)
from .spectral import istft, log_magnitude, stft


@dataclass
class RunPaths:
    out: Path

    @property
    def last(self) -> Path:
        return self.out / "last.pt"

    @property
    def best(self) -> Path:
        return self.out / "best.pt"

    @property
    def log(self) -> Path:
        return self.out / "log.jsonl"


BATCH_FIELDS = ("mixture", "stems", "frames", "onsets", "velocity", "activity")


def to_tensors(b: Batch | dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch (the sampler's arrays, or a loader worker's tensors) as tensors on ``device``."""
    if isinstance(b, dict):
        return {k: b[k].to(device, non_blocking=True) for k in BATCH_FIELDS}
    return {k: torch.from_numpy(getattr(b, k)).to(device) for k in BATCH_FIELDS}


def mixture_sampler(tracks: list, cfg: ModelConfig, tc: TrainConfig, seed: int) -> MixtureSampler:
    """The training recipe's mixture sampler over ``tracks`` (cached or packed), seeded ``seed``."""
    return MixtureSampler(tracks, cfg.class_map, cfg.sample_rate, cfg.hop, tc.crop_seconds, tc.remix_prob,
                          tc.drop_class_prob, tc.gain_db, seed=seed, eq_db=tc.eq_db)


class SamplerStream(torch.utils.data.IterableDataset):
    """An endless stream of training batches for a ``DataLoader`` with worker processes: worker
    ``i`` draws from its own sampler, ``make_sampler(seed + 7919 * i)``, so the stream is
    reproducible for a given worker count (it is not the single-process stream)."""

    def __init__(self, make_sampler, batch_size: int, seed: int):
        self.make_sampler, self.batch_size, self.seed = make_sampler, batch_size, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        torch.set_num_threads(1)
        sampler = self.make_sampler(self.seed + 7919 * wid)
        while True:
            yield to_tensors(sampler.batch(self.batch_size), torch.device("cpu"))


def compute_losses(model, cfg: ModelConfig, tc: TrainConfig, t: dict[str, torch.Tensor],
                   rng: np.random.Generator | None) -> dict[str, torch.Tensor]:
    """Every weighted loss term for one batch, plus ``total``."""
    X = stft(t["mixture"], cfg.n_fft, cfg.hop)                            # [B, F, T]
    S = stft(t["stems"], cfg.n_fft, cfg.hop)                              # [B, C, F, T]
    T = X.shape[-1]
    dc_frames = None
    if tc.w_dc > 0 and rng is not None and tc.dc_frame_fraction < 1.0:
        k = max(1, int(T * tc.dc_frame_fraction))
        dc_frames = torch.from_numpy(np.sort(rng.choice(T, k, replace=False))).to(X.device)
    out = model(log_magnitude(X), dc_frames=dc_frames, want_embeddings=tc.w_dc > 0)
    losses: dict[str, torch.Tensor] = {}
    if tc.w_mi > 0:
        losses["mi"] = mask_inference_loss(out.masks, X, S, tc.mi_loss)
        if tc.mi_snr_weight > 0:
            est = istft(out.masks * X.unsqueeze(1), cfg.n_fft, cfg.hop, t["stems"].shape[-1])
            losses["snr"] = signal_to_noise_loss(est, t["stems"], t["mixture"])
    if tc.w_dc > 0:
        Xd, Sd = (X, S) if dc_frames is None else (X[..., dc_frames], S[..., dc_frames])
        losses["dc"] = deep_clustering_loss(out.embeddings, Xd, Sd)
    if tc.w_tr > 0:
        losses["tr"] = transcription_loss(out.frame_logits, out.onset_logits, out.velocity, t["frames"],
                                          t["onsets"], t["velocity"], tc.onset_pos_weight,
                                          tc.repeat_onset_weight)
    if tc.w_act > 0:
        losses["act"] = activity_loss(out.activity_logits, t["activity"])
    w = {"mi": tc.w_mi, "snr": tc.w_mi * tc.mi_snr_weight, "dc": tc.w_dc, "tr": tc.w_tr, "act": tc.w_act}
    losses["total"] = sum(w[k] * v for k, v in losses.items())
    losses["_out"] = out  # type: ignore[assignment]
    losses["_X"], losses["_S"] = X, S  # type: ignore[assignment]
    return losses


def si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SDR in dB over the last axis."""
    a = (est * ref).sum(-1, keepdim=True) / ((ref ** 2).sum(-1, keepdim=True) + 1e-8)
    target = a * ref
    return 10 * torch.log10((target ** 2).sum(-1) / (((est - target) ** 2).sum(-1) + 1e-8) + 1e-8)


@torch.no_grad()
def validate(model, cfg: ModelConfig, tc: TrainConfig, batches: list[Batch], device) -> dict[str, float]:
    """Mean losses, SI-SDR of the masked stems (present classes), frame F1 and activity accuracy."""
    model.eval()
    sums: dict[str, float] = {}
    sdrs, tp, fp, fn, acc = [], 0.0, 0.0, 0.0, []
    for b in batches:
        t = to_tensors(b, device)
        ls = compute_losses(model, cfg, tc, t, None)
        for k, v in ls.items():
            if not k.startswith("_"):
                sums[k] = sums.get(k, 0.0) + float(v)
        out, X = ls["_out"], ls["_X"]
        est = istft(out.masks * X.unsqueeze(1), cfg.n_fft, cfg.hop, t["stems"].shape[-1])
        present = present_stems(t["stems"])
        sdrs.append(si_sdr(est, t["stems"])[present].cpu())
        p = torch.sigmoid(out.frame_logits) > 0.5
        y = t["frames"] > 0.5
        tp += float((p & y).sum()); fp += float((p & ~y).sum()); fn += float((~p & y).sum())
        acc.append(float(((torch.sigmoid(out.activity_logits) > 0.5) == (t["activity"] > 0.5)).float().mean()))
    model.train()
    n = len(batches)
    res = {f"val_{k}": v / n for k, v in sums.items()}
    res["val_si_sdr"] = float(torch.cat(sdrs).mean()) if sdrs else float("nan")
    res["val_frame_f1"] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    res["val_activity_acc"] = float(np.mean(acc))
    return res


def val_score(m: dict[str, float], tc: TrainConfig) -> float:
    """Higher is better: the validation metrics of the tasks this preset trains."""
    s = 0.0
    if tc.w_mi > 0 or tc.w_dc > 0:
        s += m["val_si_sdr"]
    if tc.w_tr > 0:
        s += 20.0 * m["val_frame_f1"]
    if tc.w_act > 0:
        s += 5.0 * m["val_activity_acc"]
    return s


def lr_at(step: int, tc: TrainConfig, progress: float | None = None) -> float:
    """Linear warm-up over ``tc.warmup_steps``, then cosine from ``tc.lr`` to ``tc.lr_min`` as
    ``progress`` goes 0 -> 1 (by default the fraction of the post-warm-up step budget done;
    a wall-clock-budgeted loop passes its elapsed fraction)."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    if progress is None:
        progress = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
    return tc.lr_min + 0.5 * (tc.lr - tc.lr_min) * (1 + math.cos(math.pi * min(1.0, progress)))


def train(model_cfg: ModelConfig, tc: TrainConfig, data: list[str | Path], val_data: list[str | Path],
          out: str | Path, cache: str | Path = "data/cache", resume: bool = False, device: str = "auto",
          init: str | Path | None = None, quiet: bool = False) -> dict[str, float]:
    """Train a model; returns the best validation metrics."""
    # --- distributed setup (torchrun sets WORLD_SIZE/RANK/LOCAL_RANK) ---
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    paths = RunPaths(Path(out))
    paths.out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if (quiet or rank != 0) else (lambda *a: print(*a, flush=True))

    # --- model, optimiser, resume ---
    step, best, done_s = 0, -float("inf"), 0.0
    if resume and paths.last.is_file():
        ck = read_checkpoint(paths.last)
        model_cfg, tc = from_dict(ModelConfig, ck["model_config"]), replace_steps(from_dict(TrainConfig, ck["train_config"]), tc)
        step, best = ck["step"], ck["extra"].get("best", best)
        # A wall-clock budget counts the time already trained, so a resumed run continues its
        # schedule (and stops at the same total) instead of starting the cosine again.
        done_s = float(ck["extra"].get("elapsed_s", 0.0))
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed + rank)
    model = build_model(model_cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    if resume and paths.last.is_file():
        model.load_state_dict(ck["state_dict"])
        if "optimizer" in ck:
            opt.load_state_dict(ck["optimizer"])
        say(f"resumed {paths.last} at step {step}")
    elif init:
        new = init_from(model, init)
        say(f"initialised from {init}" + (f"; {len(new)} new tensors start fresh ({', '.join(new[:4])}, ...)"
                                          if new else ""))
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        unused = min(tc.w_dc, tc.w_mi, tc.w_tr, tc.w_act) == 0
        net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=unused)

    # --- data ---
    cmap = model_cfg.class_map
    tracks = load_dataset(data, cache, cmap, model_cfg.sample_rate,
                          progress=rank == 0 and not quiet and sys.stderr.isatty())
    make_sampler = functools.partial(mixture_sampler, tracks, model_cfg, tc)
    sampler_seed = tc.seed * 1000003 + step * 31 + rank
    if tc.loader_workers > 0:
        loader = torch.utils.data.DataLoader(
            SamplerStream(make_sampler, tc.batch_size, sampler_seed), batch_size=None,
            num_workers=tc.loader_workers, prefetch_factor=4, pin_memory=dev.type == "cuda",
            persistent_workers=True)
        batches = iter(loader)
        next_batch = lambda: next(batches)                                          # noqa: E731
    else:
        sampler = make_sampler(sampler_seed)
        next_batch = lambda: sampler.batch(tc.batch_size)                           # noqa: E731
    val_tracks = load_dataset(val_data, cache, cmap, model_cfg.sample_rate, progress=False) if val_data else tracks
    vs = MixtureSampler(val_tracks, cmap, model_cfg.sample_rate, model_cfg.hop, tc.crop_seconds, remix_prob=0.0,
                        drop_class_prob=tc.drop_class_prob, gain_db=0.0, seed=12345)
    val_batches = [vs.batch(tc.batch_size) for _ in range(tc.val_batches)] if rank == 0 else []
    say(f"training {tc.preset}: {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{len(tracks)} train / {len(val_tracks)} validation tracks, device {dev}, world {world}")
    rng = np.random.default_rng(tc.seed + step + 7919 * rank)

    def checkpoint(path: Path, metrics: dict | None = None) -> None:
        save_checkpoint(path, model, model_cfg, tc, step, opt,
                        extra={"best": best, "metrics": metrics or {}, "elapsed_s": time.time() - t0})

    # --- loop ---
    # A polite stop (SIGTERM, e.g. from `kill` or a scheduler) ends the loop like Ctrl-C, so the
    # finally-block below still writes last.pt and the run can be resumed.
    import signal

    def _stop(signum, frame):
        raise KeyboardInterrupt

    if rank == 0:
        signal.signal(signal.SIGTERM, _stop)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.train()
    t_start, seen, last_log = time.time(), 0, {}
    t0 = t_start - done_s           # the run's start, earlier segments of it included
    budget = tc.time_budget_s

    def progress() -> float | None:
        """The schedule's position: the budget's elapsed fraction when the loop has one."""
        return min(1.0, (time.time() - t0) / budget) if budget > 0 else None

    logf = open(paths.log, "a") if rank == 0 else None
    try:
        done = step >= tc.steps
        while not done:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, tc, progress())
            ls = compute_losses(net, model_cfg, tc, to_tensors(next_batch(), dev), rng)
            opt.zero_grad(set_to_none=True)
            ls["total"].backward()
            gn = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            step += 1
            seen += tc.batch_size
            done = step >= tc.steps or (budget > 0 and time.time() - t0 >= budget)
            if world > 1 and budget > 0:     # every rank stops at the same step
                import torch.distributed as dist

                flag = torch.tensor([float(done)], device=dev)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                done = bool(flag.item())
            if rank == 0 and step % tc.log_every == 0:
                now = time.time()
                last_log = {"step": step, "lr": lr_at(step, tc, progress()), "grad_norm": float(gn),
                            "elapsed_s": round(now - t0, 1),
                            "examples_per_s": round(seen / (now - t_start), 2),
                            **{k: round(v.item(), 5) for k, v in ls.items() if not k.startswith("_")}}
                logf.write(json.dumps(last_log) + "\n"); logf.flush()
                say(" ".join(f"{k}={v}" for k, v in last_log.items()))
            if rank == 0 and (step % tc.val_every == 0 or done):
                m = validate(model, model_cfg, tc, val_batches, dev)
                score = val_score(m, tc)
                improved = score > best
                if improved:
                    best = score
                    checkpoint(paths.best, m)
                checkpoint(paths.last, m)
                rec = {"step": step, "val_score": round(score, 4), "best": improved,
                       **{k: round(v, 5) for k, v in m.items()}}
                logf.write(json.dumps(rec) + "\n"); logf.flush()
                say("validation " + " ".join(f"{k}={v}" for k, v in rec.items()))
    finally:
        if rank == 0:
            checkpoint(paths.last)
            logf.close()
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    return {"best_score": best, "steps": step, **last_log}


def replace_steps(stored: TrainConfig, given: TrainConfig) -> TrainConfig:
    """On resume the stored recipe is kept, except the step budget (and so the schedule's
    length) and the CPU thread count, which are the caller's."""
    from dataclasses import replace

    return replace(stored, steps=given.steps, threads=given.threads)
