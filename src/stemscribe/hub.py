"""Named models: the registry of weights shipped inside the package, each with a sha256.

``weights/registry.json`` maps a name to ``{"file", "sha256", "description"}``. Nothing is
ever downloaded. "tiny-test" is a tiny randomly initialised model (seeded, so identical on
every machine) that lets the whole pipeline be tested in seconds.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, build_model, load_model
from .model.config import ModelConfig

WEIGHTS_DIR = Path(__file__).parent / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"
TINY_NAME = "tiny-test"


def tiny_config() -> ModelConfig:
    """The tiny test architecture (a few thousand parameters per head)."""
    return ModelConfig(front_dim=32, conv_kernel=3, rnn_dim=16, rnn_layers=1, dropout=0.0, dc_dim=4)


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


def load(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig, str]:
    """(model in eval mode, config, display name) for a registry name or a checkpoint path."""
    name = str(name_or_path)
    reg = registry()
    if name == TINY_NAME:
        torch.manual_seed(0)
        cfg = tiny_config()
        return build_model(cfg).to(device).eval(), cfg, TINY_NAME
    if name in reg:
        entry = reg[name]
        path = WEIGHTS_DIR / entry["file"]
        if not path.is_file():
            raise CheckpointError(f"model {name!r}: weights file {path} is missing from the installation")
        digest = sha256(path)
        if digest != entry["sha256"]:
            raise CheckpointError(f"model {name!r}: {path} has sha256 {digest[:12]}..., expected "
                                  f"{entry['sha256'][:12]}...; the file is damaged")
        model, cfg, _ = load_model(path, device)
        return model, cfg, name
    path = Path(name)
    if path.suffix in (".pt", ".pth", ".ckpt") or path.exists():
        model, cfg, _ = load_model(path, device)
        return model, cfg, path.stem
    raise CheckpointError(f"unknown model {name!r}: not a registry name ({', '.join(sorted(reg))}) "
                          f"nor a checkpoint file")
