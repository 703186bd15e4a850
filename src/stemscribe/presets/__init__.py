"""Training presets: small YAML files overriding ModelConfig and TrainConfig defaults."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..model.config import ModelConfig, TrainConfig

PRESET_DIR = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> tuple[ModelConfig, TrainConfig]:
    """The configs of a preset by name (or a path to a YAML file of the same shape)."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(names())} (or a .yaml file path)")
    d = yaml.safe_load(path.read_text()) or {}
    model, train = d.get("model") or {}, d.get("train") or {}
    known_m, known_t = set(ModelConfig.__dataclass_fields__), set(TrainConfig.__dataclass_fields__)
    bad = sorted(set(model) - known_m) + sorted(set(train) - known_t)
    if bad:
        raise ValueError(f"{path}: unknown settings {', '.join(bad)}")
    return ModelConfig(**model), TrainConfig(**{"preset": path.stem, **train})
