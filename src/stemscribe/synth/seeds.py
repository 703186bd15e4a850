"""Seed spaces of the splits: every track's random stream derives from (user seed, split, index).

The split enters the seed as its own word, so train, validation and test draw from different,
independent random streams even with the same ``--seed`` (a validation track is never a train track re-drawn),
and a track's content does not depend on how many workers render it or in what order.
"""
from __future__ import annotations

import numpy as np

SPLITS: tuple[str, ...] = ("train", "validation", "test")
# Arbitrary, distinct words (ASCII of "trai", "vali", "test").
SPLIT_KEYS: dict[str, int] = {"train": 0x74726169, "validation": 0x76616C69, "test": 0x74657374}


def track_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of track ``index`` (0-based) of ``split`` under user ``seed``."""
    if split not in SPLIT_KEYS:
        raise ValueError(f"unknown split {split!r}; use {', '.join(SPLITS)}")
    if seed < 0 or index < 0:
        raise ValueError(f"seed ({seed}) and track index ({index}) must be non-negative")
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_KEYS[split], int(index)]))
