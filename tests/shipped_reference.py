"""What the shipped-model regression test compares (shared with scripts/make_reference.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "example.flac"
CLIP_SECONDS = 3.0


def reference_outputs(name: str) -> dict[str, np.ndarray]:
    """Stems' RMS envelopes (100 ms hops), activity curves and note counts on a 3 s clip."""
    import soundfile as sf
    import torch

    from stemscribe import Separator

    torch.set_num_threads(1)  # one thread: the same float reductions on every machine
    audio, sr = sf.read(str(EXAMPLE), dtype="float32", always_2d=True)
    clip = audio[: int(CLIP_SECONDS * sr)].T
    res = Separator(name, device="cpu").separate(clip, sr)
    hop = sr // 10
    out: dict[str, np.ndarray] = {}
    for c, s in res.stems.items():
        m = s.mean(0)
        n = len(m) // hop
        out[f"rms_{c}"] = np.sqrt((m[: n * hop].reshape(n, hop) ** 2).mean(1)).astype(np.float32)
        out[f"activity_{c}"] = res.activity[c].probabilities.astype(np.float32)
        out[f"notes_{c}"] = np.array(len(res.notes[c]))
    return out
