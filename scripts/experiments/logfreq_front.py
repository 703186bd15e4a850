"""Experiment: does a log-frequency, weight-shared convolutional front end help transcription?

    python scripts/experiments/logfreq_front.py logconv 1000    # the variant
    python scripts/experiments/logfreq_front.py base 1800       # crnn-v1 as shipped

Trains the TR-only preset (same data, seed, recipe) with crnn-v1's front end (one Linear over
the 513 linear-frequency bins) replaced by: a fixed triangular filterbank to 256 log-spaced bins
(30 Hz-8 kHz), two 3x7 Conv2d layers of 16 channels over (time, log-frequency), max-pool by 4 in
frequency, a projection plus a linear skip from the raw bins. Runs into /tmp/exp/VARIANT.

Measured 2026-11-21 on the 2-core CPU, 2 threads (validation: 16 batches, frame F1 at 0.5):
| variant | steps | wall s | val TR loss | val frame F1 |
|---|---|---|---|---|
| logconv | 1000 | 412 | 0.503 | .017 |
| base    | 1000 | 255 | 0.513 | .019 (schedule planned for 1800) |
| base    | 1800 | 473 | 0.501 | .029 |
Per step the variant lowers the loss slightly; at equal wall time crnn-v1 is ahead. Not adopted.
"""
import sys, math, numpy as np, torch
from torch import nn
import stemscribe.train as T
from stemscribe.model.network import JointNet

def logfreq_matrix(n_fft=1024, sr=16000, n_bins=256, fmin=30.0, fmax=8000.0):
    f = np.arange(n_fft // 2 + 1) * sr / n_fft
    centers = np.geomspace(fmin, fmax, n_bins + 2)
    W = np.zeros((n_bins, f.size), np.float32)
    for i in range(n_bins):
        lo, c, hi = centers[i], centers[i + 1], centers[i + 2]
        up = (f - lo) / max(c - lo, 1e-6); down = (hi - f) / max(hi - c, 1e-6)
        W[i] = np.maximum(0, np.minimum(up, down))
        if W[i].sum() == 0:  # narrower than a bin: nearest bin
            W[i, np.argmin(abs(f - c))] = 1.0
    return torch.from_numpy(W / W.sum(1, keepdims=True))

class LogFreqConvFront(nn.Module):
    def __init__(self, F, out_dim, n_log=256, ch=16):
        super().__init__()
        self.register_buffer("W", logfreq_matrix(n_bins=n_log))
        self.lin_skip = nn.Linear(F, out_dim)
        self.conv = nn.Sequential(nn.Conv2d(1, ch, (3, 7), padding=(1, 3)), nn.GELU(),
                                  nn.Conv2d(ch, ch, (3, 7), padding=(1, 3)), nn.GELU(),
                                  nn.MaxPool2d((1, 4)))
        self.proj = nn.Linear(ch * n_log // 4, out_dim)
        self.norm = nn.LayerNorm(out_dim)
    def forward(self, x):                       # [B, T, F]
        lf = x @ self.W.T                        # [B, T, n_log]
        h = self.conv(lf.unsqueeze(1))           # [B, ch, T, n_log/4]
        B, C, Tn, L = h.shape
        h = h.permute(0, 2, 1, 3).reshape(B, Tn, C * L)
        return nn.functional.gelu(self.norm(self.proj(h) + self.lin_skip(x)))

variant = sys.argv[1]
orig = T.build_model
def build(cfg):
    m = orig(cfg)
    if variant == "logconv":
        m.front = LogFreqConvFront(cfg.n_bins, cfg.front_dim)
    return m
T.build_model = build
from stemscribe.cli import main
sys.exit(main(["train", "--preset", "tr", "--data", "data/train", "data/train_b", "--val-data", "data/validation",
               "--out", f"/tmp/exp/{variant}", "--steps", sys.argv[2], "--threads", "2", "--seed", "0"]))
