"""The four losses. Each returns a scalar; the training loop weights and sums them.

Spectrograms: mixture ``X`` complex ``[B, F, T]``, stems ``S`` complex ``[B, C, F, T]``.
"""
from __future__ import annotations

import torch
from torch.nn import functional as Fn

from .config import MI_LOSS_NORMS


def mask_inference_loss(masks: torch.Tensor, X: torch.Tensor, S: torch.Tensor, norm: str = "l1") -> torch.Tensor:
    """Phase-sensitive mask loss (Chimera's MI loss) on ``M_c |X| - clip(|S_c| cos(angle S_c - angle X), 0, |X|)``.

    ``norm="l1"``: the mean absolute error, normalised by the mixture's mean magnitude.
    ``norm="l2"``: the mean squared error, normalised by the mixture's mean power (Erdogan et al.
    2015's PSA objective). Both make quiet and loud examples weigh the same. L1 is minimised by
    the median of the target mask given the input, which favours near-binary masks; L2 by its
    mean, the mask that minimises the expected squared error of the stem, which is what SDR-type
    metrics score.
    """
    if norm not in MI_LOSS_NORMS:
        raise ValueError(f"mask loss norm must be {' or '.join(map(repr, MI_LOSS_NORMS))}, not {norm!r}")
    mag = X.abs()                                                       # [B, F, T]
    cos = torch.cos(torch.angle(S) - torch.angle(X).unsqueeze(1))
    target = torch.minimum((S.abs() * cos).clamp(min=0.0), mag.unsqueeze(1))
    diff = masks * mag.unsqueeze(1) - target                            # [B, C, F, T]
    if norm == "l1":
        return (diff.abs().mean(dim=(1, 2, 3)) / (mag.mean(dim=(1, 2)) + 1e-6)).mean()
    return (diff.pow(2).mean(dim=(1, 2, 3)) / (mag.pow(2).mean(dim=(1, 2)) + 1e-8)).mean()


def present_stems(ref: torch.Tensor) -> torch.Tensor:
    """Which stems of ``ref [..., samples]`` play at all (peak above 1e-3): bool ``[...]``."""
    return ref.abs().amax(-1) > 1e-3


def signal_to_noise_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor,
                         snr_max_db: float = 30.0) -> torch.Tensor:
    """Thresholded negative SNR of waveforms (Wisdom et al. 2020, MixIT), in units of 10 dB.

    est, ref ``[B, C, N]`` samples, mix ``[B, N]``. Per example and class the score is
    ``10 log10(E / (|ref - est|^2 + tau E))`` with ``tau = 10^(-snr_max_db / 10)``, where ``E`` is
    the stem's energy when the stem is present (``present_stems``) and the mixture's when it is
    silent, so a silent class is scored on how little of the mixture leaks into it. The soft
    threshold caps every score at ``snr_max_db``: no example can dominate by being already good.
    Returns ``-mean(score) / 10``.
    """
    present = present_stems(ref)                                        # [B, C]
    energy = torch.where(present, ref.pow(2).sum(-1), mix.pow(2).sum(-1, keepdim=True).expand_as(present))
    err = (ref - est).pow(2).sum(-1)
    tau = 10.0 ** (-snr_max_db / 10.0)
    score = 10.0 * torch.log10((energy + 1e-8) / (err + tau * energy + 1e-8))
    return -score.mean() / 10.0


def deep_clustering_loss(emb: torch.Tensor, X: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """Weighted deep-clustering loss ``|V'V|^2 - 2|V'Y|^2 + |Y'Y|^2``, normalised per example.

    emb ``[B, T', F, D]`` unit vectors at the frames of ``X [B, F, T']`` / ``S [B, C, F, T']``.
    Y is the one-hot dominant class per bin; bins are weighted by mixture magnitude, and bins
    40 dB below the example's loudest bin get no weight (silence has no owner).
    """
    B, T, F, D = emb.shape
    mag = X.abs().transpose(1, 2)                                       # [B, T, F]
    owner = S.abs().argmax(dim=1).transpose(1, 2)                       # [B, T, F]
    Y = Fn.one_hot(owner, S.shape[1]).to(emb.dtype)                     # [B, T, F, C]
    peak = mag.amax(dim=(1, 2), keepdim=True)
    w = torch.where(mag > peak * 1e-2, mag, torch.zeros_like(mag))
    w = (w / (w.sum(dim=(1, 2), keepdim=True) + 1e-8)).sqrt().unsqueeze(-1)
    V = (emb * w).reshape(B, T * F, D)
    Yw = (Y * w).reshape(B, T * F, -1)
    vv = torch.bmm(V.transpose(1, 2), V).pow(2).sum(dim=(1, 2))
    vy = torch.bmm(V.transpose(1, 2), Yw).pow(2).sum(dim=(1, 2))
    yy = torch.bmm(Yw.transpose(1, 2), Yw).pow(2).sum(dim=(1, 2))
    return (vv - 2 * vy + yy).mean()


def transcription_loss(frame_logits: torch.Tensor, onset_logits: torch.Tensor, velocity: torch.Tensor,
                       frames: torch.Tensor, onsets: torch.Tensor, vel_target: torch.Tensor,
                       onset_pos_weight: float = 5.0, repeat_onset_weight: float = 1.0) -> torch.Tensor:
    """BCE on frames, positively weighted BCE on onsets, MSE of velocity at labelled onsets (all ``[B, T, R]``).

    ``repeat_onset_weight`` further multiplies the onset loss at re-strikes: labelled onsets whose
    previous frame is already labelled as sounding at that pitch (a note repeated with no gap,
    which only the onset roll marks). 1: every onset weighs the same."""
    lf = Fn.binary_cross_entropy_with_logits(frame_logits, frames)
    pw = torch.tensor(onset_pos_weight, dtype=onset_logits.dtype, device=onset_logits.device)
    weight = None
    if repeat_onset_weight != 1.0:
        before = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, :-1]], dim=1)
        weight = 1.0 + (repeat_onset_weight - 1.0) * onsets * before
    lo = Fn.binary_cross_entropy_with_logits(onset_logits, onsets, weight=weight, pos_weight=pw)
    n_on = onsets.sum()
    lv = ((velocity - vel_target) ** 2 * onsets).sum() / (n_on + 1.0)
    # The roll is sparse (88 rows per class); scale so the head's loss is comparable to the others.
    return 10.0 * (lf + lo) + lv


def activity_loss(activity_logits: torch.Tensor, activity: torch.Tensor) -> torch.Tensor:
    """BCE of per-class, per-frame activity ``[B, T, C]``."""
    return Fn.binary_cross_entropy_with_logits(activity_logits, activity)
