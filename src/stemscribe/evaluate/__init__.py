"""Scoring a model on a Slakh-layout dataset, paper-style (``stemscribe evaluate``).

- ``metrics``: SI-SDR, BSS Eval via fast_bss_eval, mir_eval transcription/multipitch, activity F1;
- ``oracle``: ideal ratio / binary mask baselines from the true stems;
- ``baselines``: basic-pitch (optional extra);
- ``runner``: the loop over tracks and instrument sets;
- ``tables``: summary JSON and markdown tables;
- ``published``: the published numbers compared against.

Submodules import their heavy dependencies (torch, mir_eval) inside functions.
"""
from __future__ import annotations

__all__ = ["EvalSettings", "evaluate_dataset"]


def __getattr__(name: str):
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)
