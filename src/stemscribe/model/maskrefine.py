"""Frequency-resolved mask refinement (architecture "crnn-v4").

Why: in crnn-v1 to v3 every mask logit comes from a per-frame vector (the BLSTM state and the
compressed front features, one dense layer to ``C * F`` outputs, plus v3's note templates). The
mask of a bin never sees that bin's neighbourhood in the mixture spectrogram: whether the energy
there is a horizontal line (a sustained partial), a vertical edge (a drum hit) or broadband noise,
which is the evidence 2-D convolutional separators (U-Nets, Open-Unmix's successors) live on.
So crnn-v4 adds a small residual stack of 2-D convolutions over (frequency, time) that reads
the mask logits of all classes together with the normalised log mixture, and adds a correction
to the mask logits before the softmax over classes:

    z  = [mask_logits (C channels), log mixture (1 channel)]            [B, C+1, F, T]
    h  = GELU(Conv(z))                          kernel 5x3 (freq x time)
    h += GELU(Conv_d(h)) for d in dilations     kernel 3x3, dilated d along frequency
    mask_logits += OUT_SCALE * Conv(h)          kernel 3x3, zero at the start

The last convolution starts at zero, so a crnn-v4 network loaded from crnn-v3 weights computes
exactly what crnn-v3 did (``checkpoint.init_from``, ``train --init`` rely on it). The receptive
field is ``5 + 2 * len(dilations)`` frames in time (far inside the inference chunks' overlap)
and ``7 + 2 * sum(dilations)`` bins in frequency.
"""
from __future__ import annotations

import torch
from torch import nn

# The last layer's output is multiplied by this (its weights are stored divided by it), as
# notemask.WEIGHT_SCALE: Adam moves a weight about ``lr`` a step whatever its scale, and from zero
# at a warm start's lr (3e-4) the unscaled layer had moved to a mean |w| of 0.004 after 500
# steps, a correction of a few hundredths of a logit, while mask logits differ by several units.
OUT_SCALE = 8.0


class MaskRefiner(nn.Module):
    """(mask logits ``[B, T, C, F]``, normalised log mixture ``[B, T, F]``) -> refined mask logits ``[B, T, C, F]``."""

    def __init__(self, n_classes: int, channels: int = 8, dilations: tuple[int, ...] = (1, 2, 4)):
        super().__init__()
        self.inp = nn.Conv2d(n_classes + 1, channels, (5, 3), padding=(2, 1))
        self.blocks = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=(d, 1), dilation=(d, 1))
                                    for d in dilations)
        self.out = nn.Conv2d(channels, n_classes, 3, padding=1)
        with torch.no_grad():  # start as an exact no-op (see the module docstring)
            self.out.weight.zero_()
            self.out.bias.zero_()

    def forward(self, mask_logits: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        z = torch.cat([mask_logits, mixture.unsqueeze(2)], dim=2).permute(0, 2, 3, 1)   # [B, C+1, F, T]
        h = nn.functional.gelu(self.inp(z))
        for conv in self.blocks:
            h = h + nn.functional.gelu(conv(h))
        return mask_logits + OUT_SCALE * self.out(h).permute(0, 3, 1, 2)             # [B, T, C, F]
