"""Self-describing checkpoints: format version, architecture name, configs and weights.

Nothing is pickled but tensors and plain Python values, so ``torch.load(weights_only=True)``
reads them and no class from this package is frozen into a file.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .model.config import ModelConfig, TrainConfig, from_dict

FORMAT_VERSION = 1
# the inference settings `stemscribe tune` stores in a checkpoint's ``extra`` (evaluate/tune.py)
TUNED_KEYS = ("decode", "decode_tuning", "gate", "gate_tuning", "mask_power", "mask_power_tuning")


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file."""


def build_model(cfg: ModelConfig) -> nn.Module:
    """The network for a config, by architecture name."""
    from .model.network import ARCH_VERSIONS, JointNet

    # v2 adds the pitch branch (model/pitch.py), v3 the note-informed masks (model/notemask.py),
    # v4 the mask refinement (model/maskrefine.py); all are JointNet
    if cfg.arch not in ARCH_VERSIONS:
        raise CheckpointError(f"unknown architecture {cfg.arch!r}; this version knows {', '.join(ARCH_VERSIONS)}")
    return JointNet(cfg)


def save_checkpoint(path: str | Path, model: nn.Module, model_cfg: ModelConfig, train_cfg: TrainConfig | None = None,
                    step: int = 0, optimizer: torch.optim.Optimizer | None = None, extra: dict | None = None,
                    half: bool = False) -> None:
    """Write atomically (temporary file, then rename). ``half`` stores float weights as float16."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    ckpt = {"format_version": FORMAT_VERSION, "arch": model_cfg.arch, "model_config": asdict(model_cfg),
            "train_config": asdict(train_cfg) if train_cfg else None, "step": int(step), "state_dict": state,
            "extra": extra or {}}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable stemscribe checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "model_config" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a stemscribe checkpoint (no model_config/state_dict)")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {ckpt['format_version']} is newer than this stemscribe "
                              f"understands ({FORMAT_VERSION}); upgrade stemscribe")
    return ckpt


def init_from(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the weights of checkpoint ``path`` into ``model`` (a warm start). Parameters the
    checkpoint lacks, the parts a newer architecture adds (crnn-v2's pitch branch, crnn-v3's note
    masks, crnn-v4's mask refinement), keep their initialisation; their names are returned.
    Weights of another shape, or ones the model has no place for, are an error naming the file."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_checkpoint(path)["state_dict"].items()}
    try:
        res = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit this architecture ({str(e)[:200]})") from None
    if res.unexpected_keys:
        raise CheckpointError(f"{path}: has weights this architecture has no place for "
                              f"({', '.join(res.unexpected_keys[:5])})")
    return list(res.missing_keys)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig, dict]:
    """(model in eval mode, its config, the raw checkpoint dict)."""
    ckpt = read_checkpoint(path)
    model, cfg = _build_with(path, ckpt["model_config"], ckpt["state_dict"])
    return model.to(device).eval(), cfg, ckpt


def _build_with(path: str | Path, model_config: dict, state: dict) -> tuple[nn.Module, ModelConfig]:
    """The network of ``model_config`` holding ``state`` (float tensors as float32); a mismatch
    is an error naming ``path``."""
    cfg = from_dict(ModelConfig, model_config)
    model = build_model(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit architecture {cfg.arch} ({str(e)[:200]})") from None
    return model, cfg


def average_checkpoints(paths: list[str | Path]) -> tuple[nn.Module, ModelConfig, dict]:
    """The element-wise mean of the weights of several checkpoints of one architecture and
    config (checkpoint averaging, as in fairseq's ``average_checkpoints.py``; a "model soup"
    when the checkpoints are fine-tuned from one start). Float tensors are averaged in float32;
    integer buffers are taken from the first checkpoint. Returns (model in eval mode, its
    config, the first checkpoint's dict with ``step`` and ``extra`` of the first). A checkpoint
    of another architecture, config or set of weights is an error naming the file."""
    if not paths:
        raise CheckpointError("average_checkpoints: no checkpoints given")
    first = read_checkpoint(paths[0])
    # a copy: ``.float()`` of a float32 tensor is the tensor itself, and ``first`` is returned
    total = {k: v.to(torch.float32, copy=True) if v.is_floating_point() else v
             for k, v in first["state_dict"].items()}
    for path in paths[1:]:
        ck = read_checkpoint(path)
        if ck["model_config"] != first["model_config"]:
            raise CheckpointError(f"{path}: model config differs from {paths[0]}'s; only checkpoints of one "
                                  "architecture and config can be averaged")
        if set(ck["state_dict"]) != set(total):
            raise CheckpointError(f"{path}: holds other weights than {paths[0]}")
        for k, v in ck["state_dict"].items():
            if v.is_floating_point():
                total[k] += v.float()
    state = {k: v / len(paths) if v.is_floating_point() else v for k, v in total.items()}
    model, cfg = _build_with(paths[0], first["model_config"], state)
    return model.eval(), cfg, first
