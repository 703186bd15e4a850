"""The joint network (architectures "crnn-v1", "crnn-v2", "crnn-v3", the default, and "crnn-v4").

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

"crnn-v2" adds the pitch branch of model/pitch.py, per-key features P [B, T, 88, Cp] computed
by convolutions shared across keys from a harmonically stacked log-frequency spectrum:
  - Linear(88*Cp -> front_dim)(P) is added to the front features before the temporal conv, so the
    shared representation (and through it the masks) sees pitch evidence;
  - each pitched class c reads its piano roll from P modulated by the shared state s:
    logits[c, k] += W_c . GELU(P[k] * (1 + g_c(s)) + b_c(s)) + bias_c[k]   (FiLM per class),
    added to the v1 linear head's logits, so the BLSTM says which instrument plays and P says
    which pitch. Both additions start at zero, so a v2 network initialised from v1 weights
    computes exactly what the v1 network did (``checkpoint.init_from``, ``train --init`` rely on it).

"crnn-v3" adds note-informed masks (model/notemask.py): each class's frame probabilities, through
fixed harmonic templates with learned weights, are added to its mask logits, so where the
transcription head hears a note the mask of that class opens on the note's harmonics. Also zero
at the start, so v3 from v2 weights computes what v2 did.

"crnn-v4" adds a frequency-resolved mask refinement (model/maskrefine.py): 2-D convolutions over
(frequency, time) read all classes' mask logits and the log mixture and correct the logits bin
by bin. Its last layer starts at zero, so v4 from v3 weights computes what v3 did.

Why this shape: the BLSTM stack is what Cerberus used and is strong at the long-range
context transcription and activity need; the linear frequency compression keeps the
per-frame cost low enough for 20x real time on a 2-core CPU, and the front features
are fed to the mask head again so masks keep fine frequency detail.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..classes import N_KEYS
from .config import ModelConfig
from .maskrefine import MaskRefiner
from .notemask import NoteMaskPrior
from .pitch import HarmonicPitchFront


TR_PRIOR_LOGIT = -4.5

# Each architecture is the previous one plus one part (module docstring): its version number says
# which parts a network has. checkpoint.build_model knows the architectures from this table.
ARCH_VERSIONS = {"crnn-v1": 1, "crnn-v2": 2, "crnn-v3": 3, "crnn-v4": 4}


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
        version = ARCH_VERSIONS[cfg.arch]
        self.pitch = None
        if version >= 2:
            self._build_pitch_branch(cfg, H)
        self.note_mask = None
        if version >= 3:
            self.note_mask = NoteMaskPrior(cmap, cfg.sample_rate, cfg.n_fft, cfg.note_mask_harmonics)
        self.refine = None
        if version >= 4:
            self.refine = MaskRefiner(C, cfg.refine_channels, tuple(cfg.refine_dilations))

    def _build_pitch_branch(self, cfg: ModelConfig, H: int) -> None:
        Cp = cfg.pitch_channels
        self.pitch = HarmonicPitchFront(cfg.sample_rate, cfg.n_fft, cfg.pitch_bins_per_semitone,
                                        tuple(cfg.pitch_harmonics), Cp)
        self.pitch_to_front = nn.Linear(N_KEYS * Cp, cfg.front_dim)
        starts = [sum(self.rows[:i]) for i in range(len(self.rows))]
        pitched = [i for i, c in enumerate(cfg.class_map.classes) if not c.is_drum]
        # The transcription rows the pitch branch writes to: 88 per pitched class, in class order.
        self.register_buffer("pitch_rows", torch.tensor([starts[i] + k for i in pitched for k in range(N_KEYS)]),
                             persistent=False)
        P = len(pitched)
        self.pitch_film = nn.Linear(H, P * 2 * Cp)
        self.pitch_out_w = nn.Parameter(torch.zeros(P, Cp, 3))
        self.pitch_out_b = nn.Parameter(torch.zeros(P, N_KEYS, 3))
        with torch.no_grad():  # start as an exact no-op (see the module docstring)
            for lin in (self.pitch_to_front, self.pitch_film):
                lin.weight.zero_()
                lin.bias.zero_()

    def forward(self, features: torch.Tensor, dc_frames: torch.Tensor | None = None,
                want_embeddings: bool = True) -> NetOutput:
        """features: log-magnitude ``[B, F, T]``; dc_frames: optional frame indices ``[T']`` at
        which to compute the deep-clustering embeddings (all frames when None)."""
        B, F, T = features.shape
        x = features.transpose(1, 2) * self.in_scale + self.in_bias          # [B, T, F]
        front = self.front(x)                                                # [B, T, front]
        y = front
        if self.pitch is not None:
            pitch = self.pitch(features)                                     # [B, T, 88, Cp]
            y = front + self.pitch_to_front(pitch.flatten(2))
        y0 = y
        y = self.conv(y.transpose(1, 2)).transpose(1, 2)                      # [B, T, front]
        y = y0 + nn.functional.gelu(self.conv_norm(y))
        shared, _ = self.rnn(y)                                              # [B, T, H]
        shared = self.drop(shared)

        tr = self.tr_head(shared).view(B, T, -1, 3)                          # [B, T, R, 3]
        if self.pitch is not None:
            tr = tr.index_add(2, self.pitch_rows, self._pitched_logits(pitch, shared).flatten(2, 3))

        C = self.n_classes
        m = self.mask_head(torch.cat([shared, front], dim=-1)).view(B, T, C, F)
        if self.note_mask is not None:
            m = m + self.note_mask(tr[..., 0])
        if self.refine is not None:
            m = self.refine(m, x)
        masks = torch.softmax(m, dim=2).permute(0, 2, 3, 1)                  # [B, C, F, T]

        emb = None
        if want_embeddings:
            s = shared if dc_frames is None else shared[:, dc_frames]
            emb = self.dc_head(s).view(B, s.shape[1], F, self.cfg.dc_dim)
            emb = nn.functional.normalize(emb, dim=-1)                       # [B, T', F, D]
        return NetOutput(masks=masks, embeddings=emb, frame_logits=tr[..., 0], onset_logits=tr[..., 1],
                         velocity=torch.sigmoid(tr[..., 2]), activity_logits=self.act_head(shared))

    def _pitched_logits(self, pitch: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """P ``[B, T, 88, Cp]``, shared ``[B, T, H]`` -> ``[B, T, P, 88, 3]`` logits of the pitched classes."""
        B, T, K, Cp = pitch.shape
        film = self.pitch_film(shared).view(B, T, -1, 2, Cp)                 # [B, T, P, 2, Cp]
        out = []
        for c in range(film.shape[2]):  # one class at a time: [B, T, 88, Cp] temporaries, not P of them
            z = nn.functional.gelu(torch.addcmul(film[:, :, c, 1:2], pitch, 1 + film[:, :, c, 0:1]))
            out.append(z @ self.pitch_out_w[c] + self.pitch_out_b[c])        # [B, T, 88, 3]
        return torch.stack(out, dim=2)

    def split_rows(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Split a ``[..., R]`` transcription tensor into one ``[..., rows_c]`` per class."""
        return list(torch.split(x, self.rows, dim=-1))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
