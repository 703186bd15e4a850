"""Score the shipped model with MISI phase refinement on 5-instrument mixtures (a negative result).

Needs ``scripts/experiments/misi_phase.patch`` applied (``git apply``), which adds
``SeparatorOptions.phase_iterations`` and ``inference.misi``; 0 iterations is the unpatched
pipeline. Usage: ``python scripts/experiments/misi_eval.py ITERATIONS DATA OUT [THREADS]``.
"""
import sys
from pathlib import Path

import torch

from stemscribe.evaluate.runner import EvalSettings, evaluate_dataset
from stemscribe.separator import Separator

k, data, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
sep = Separator("default", device="cpu", phase_iterations=k)
summary = evaluate_dataset(data, sep, EvalSettings(sets=(5,), baselines=()), Path(out), None)
print(f"{k} iterations: {summary['n_tracks']} tracks in {summary['seconds']:.0f} s")
