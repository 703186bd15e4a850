"""The joint network (architecture "crnn-v1").

mixture log-spectrum [B, F, T]
  -> per-bin affine, Linear(F -> front_dim), GELU           (frequency compression, per frame)
  -> Conv1d over time (kernel conv_kernel), GELU, residual   (local onsets / transients)
  -> rnn_layers x BiLSTM(rnn_dim)                            (the shared representation, [B, T, 2*rnn_dim])
  -> heads:
     MI  : Linear([shared, front] -> C*F), softmax over classes   masks [B, C, F, T], sum to 1
     DC  : Linear(shared -> F*D), unit norm                        embeddings [B, T, F, D]
     TR  : Linear(shared -> R*3)                                   frame/onset/velocity logits [B, T, R, 3]
     ACT : Linear(shared -> C)                                     activity logits [B, T, C]
R is the sum of the classes' transcription rows (88 per pitched class, 5 for drums).

Why this shape: the BLSTM stack is what Cerberus used and is strong at the long-range
context transcription and activity need; the linear frequency compression keeps the
per-frame cost low enough for 20x real time on a 2-core CPU, and the front features
are fed to the mask head again so masks keep fine frequency detail.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig


TR_PRIOR_LOGIT = -4.5


@dataclass
class NetOutput:
    masks: torch.Tensor            # [B, C, F, T] in 0-1, summing to 1 over C
    embeddings: torch.Tensor | None  # [B, T', F, D] unit vectors (T' = frames asked for), or None
    frame_logits: torch.Tensor     # [B, T, R]
    onset_logits: torch.Tensor     # [B, T, R]
    velocity: torch.Tensor         # [B, T, R] in 0-1
    activity_logits: torch.Tensor  # [B, T, C]


class JointNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        cmap = cfg.class_map
        F, C = cfg.n_bins, len(cmap)
        self.n_classes, self.n_bins = C, F
        self.rows = [c.n_pitches for c in cmap.classes]
        R = sum(self.rows)
        H = 2 * cfg.rnn_dim
        self.in_scale = nn.Parameter(torch.ones(F))
        self.in_bias = nn.Parameter(torch.zeros(F))
        self.front = nn.Sequential(nn.Linear(F, cfg.front_dim), nn.LayerNorm(cfg.front_dim), nn.GELU())
        self.conv = nn.Conv1d(cfg.front_dim, cfg.front_dim, cfg.conv_kernel, padding=cfg.conv_kernel // 2)
        self.conv_norm = nn.LayerNorm(cfg.front_dim)
        self.rnn = nn.LSTM(cfg.front_dim, cfg.rnn_dim, num_layers=cfg.rnn_layers, batch_first=True,
                           bidirectional=True, dropout=cfg.dropout if cfg.rnn_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.mask_head = nn.Linear(H + cfg.front_dim, C * F)
        self.dc_head = nn.Linear(H, F * cfg.dc_dim)
        self.tr_head = nn.Linear(H, R * 3)
        self.act_head = nn.Linear(H, C)
        # Start transcription logits at the sparse prior (about 1% of rows on): otherwise the first
        # steps' large BCE gradients swamp the shared layers and mask inference stalls.
        with torch.no_grad():
            bias = self.tr_head.bias.view(R, 3)
            bias[:, 0].fill_(TR_PRIOR_LOGIT)
            bias[:, 1].fill_(TR_PRIOR_LOGIT)

    def forward(self, features: torch.Tensor, dc_frames: torch.Tensor | None = None,
                want_embeddings: bool = True) -> NetOutput:
        """features: log-magnitude ``[B, F, T]``; dc_frames: optional frame indices ``[T']`` at
        which to compute the deep-clustering embeddings (all frames when None)."""
        B, F, T = features.shape
        x = features.transpose(1, 2) * self.in_scale + self.in_bias          # [B, T, F]
        front = self.front(x)                                                # [B, T, front]
        y = self.conv(front.transpose(1, 2)).transpose(1, 2)                  # [B, T, front]
        y = front + nn.functional.gelu(self.conv_norm(y))
        shared, _ = self.rnn(y)                                              # [B, T, H]
        shared = self.drop(shared)

        C = self.n_classes
        m = self.mask_head(torch.cat([shared, front], dim=-1)).view(B, T, C, F)
        masks = torch.softmax(m, dim=2).permute(0, 2, 3, 1)                  # [B, C, F, T]

        emb = None
        if want_embeddings:
            s = shared if dc_frames is None else shared[:, dc_frames]
            emb = self.dc_head(s).view(B, s.shape[1], F, self.cfg.dc_dim)
            emb = nn.functional.normalize(emb, dim=-1)                       # [B, T', F, D]

        tr = self.tr_head(shared).view(B, T, -1, 3)                          # [B, T, R, 3]
        return NetOutput(masks=masks, embeddings=emb, frame_logits=tr[..., 0], onset_logits=tr[..., 1],
                         velocity=torch.sigmoid(tr[..., 2]), activity_logits=self.act_head(shared))

    def split_rows(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Split a ``[..., R]`` transcription tensor into one ``[..., rows_c]`` per class."""
        return list(torch.split(x, self.rows, dim=-1))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
