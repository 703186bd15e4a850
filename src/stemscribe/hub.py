"""Named models: the registry of weights shipped inside the package, each with a sha256.

``weights/registry.json`` maps a name to ``{"file", "sha256", "description"}``. Nothing is
ever downloaded. "tiny-test" is a tiny randomly initialised model (seeded, so identical on
every machine) that lets the whole pipeline be tested in seconds.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, build_model, load_model
from .model.config import ModelConfig

WEIGHTS_DIR = Path(__file__).parent / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"
TINY_NAME = "tiny-test"
ALL_HEADS = frozenset({"mi", "dc", "tr", "act"})


def tiny_config() -> ModelConfig:
    """The tiny test architecture (a few thousand parameters per head)."""
    return ModelConfig(front_dim=32, conv_kernel=3, rnn_dim=16, rnn_layers=1, dropout=0.0, dc_dim=4, pitch_channels=4)


def registry() -> dict[str, dict]:
    reg = json.loads(REGISTRY_FILE.read_text()) if REGISTRY_FILE.is_file() else {}
    reg[TINY_NAME] = {"file": None, "sha256": None, "description": "tiny random-weight model for tests (seed 0)"}
    return reg


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class LoadedModel:
    """A model ready for inference and what its checkpoint says about it.

    heads: the heads its training weighted above zero ("mi", "dc", "tr", "act"); an ablation model
        (say "tr" only) has untrained heads whose outputs mean nothing.
    decode: per-class note thresholds tuned on the validation split (``stemscribe tune``),
        ``{class: {"onset_threshold": p, "frame_threshold": p}}``; empty when never tuned.
    gate: per-class activity-gate bounds tuned on the validation split, ``{class: {"low": p,
        "high": p}}`` (``high`` 0: not gated); empty when never tuned (the defaults apply).
    mask_power: per-class mask exponent tuned on the validation split (``inference.temper_masks``),
        ``{class: p}``; empty when never tuned (1: the masks as the network gives them).
    """

    model: nn.Module
    config: ModelConfig
    name: str
    heads: frozenset[str] = ALL_HEADS
    decode: dict[str, dict[str, float]] = field(default_factory=dict)
    gate: dict[str, dict[str, float]] = field(default_factory=dict)
    mask_power: dict[str, float] = field(default_factory=dict)


def trained_heads(train_config: dict | None) -> frozenset[str]:
    """The heads a training recipe (a stored ``TrainConfig`` dict) gave a non-zero loss weight."""
    if not train_config:
        return ALL_HEADS
    return frozenset(h for h in ALL_HEADS if float(train_config.get(f"w_{h}", 1.0)) > 0)


def _from_checkpoint(path: Path, name: str, device) -> LoadedModel:
    model, cfg, ck = load_model(path, device)
    extra = ck.get("extra") or {}
    return LoadedModel(model, cfg, name, trained_heads(ck.get("train_config")), dict(extra.get("decode") or {}),
                       dict(extra.get("gate") or {}), dict(extra.get("mask_power") or {}))


def load_model_info(name_or_path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """A registry name ("default", "tiny-test") or a checkpoint path, loaded in eval mode.

    Registry weights are checked against their sha256 first; a mismatch is an error.
    """
    name = str(name_or_path)
    reg = registry()
    if name == TINY_NAME:
        torch.manual_seed(0)
        cfg = tiny_config()
        return LoadedModel(build_model(cfg).to(device).eval(), cfg, TINY_NAME)
    if name in reg:
        entry = reg[name]
        path = WEIGHTS_DIR / entry["file"]
        if not path.is_file():
            raise CheckpointError(f"model {name!r}: weights file {path} is missing from the installation")
        digest = sha256(path)
        if digest != entry["sha256"]:
            raise CheckpointError(f"model {name!r}: {path} has sha256 {digest[:12]}..., expected "
                                  f"{entry['sha256'][:12]}...; the file is damaged")
        return _from_checkpoint(path, name, device)
    path = Path(name)
    if path.suffix in (".pt", ".pth", ".ckpt") or path.exists():
        return _from_checkpoint(path, path.stem, device)
    raise CheckpointError(f"unknown model {name!r}: not a registry name ({', '.join(sorted(reg))}) "
                          f"nor a checkpoint file")


def load(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig, str]:
    """(model in eval mode, config, display name) for a registry name or a checkpoint path."""
    m = load_model_info(name_or_path, device)
    return m.model, m.config, m.name
