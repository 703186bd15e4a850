"""Chunked inference: network outputs over a whole song, then stems at the input's rate.

Two stages, so memory does not grow with the model's work:
1. ``analyze``: the mono mixture at the model's rate is cut into overlapping chunks (batched),
   and the per-frame outputs (masks, transcription, activity) are cross-faded back together.
   Cross-fade weights sum to 1, so masks still sum to 1 over classes.
2. ``render``: the input, at its own rate and channel count, is processed in segments. Each
   segment's STFT (same hop grid as the whole signal, with one FFT of margin each side) is
   multiplied by the masks interpolated onto its time-frequency grid, and inverted. Segments are
   then exactly what a whole-signal STFT would give, and stems sum to the input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from .model.config import ModelConfig
from .spectral import istft, log_magnitude, stft

# Activity gating: activity probabilities are median-smoothed over this many seconds, then
# mapped to a gate in 0-1 that is 0 below GATE_LOW and 1 above GATE_HIGH. These are the defaults;
# a checkpoint may carry per-class bounds chosen on the validation split (``stemscribe tune``).
GATE_SMOOTH_SECONDS = 0.5
GATE_LOW, GATE_HIGH = 0.15, 0.4


def activity_gate(activity: np.ndarray, low: np.ndarray | float = GATE_LOW,
                  high: np.ndarray | float = GATE_HIGH) -> np.ndarray:
    """Map smoothed activity probabilities ``[T, C]`` to a gate ``[T, C]`` float32 in 0-1: 0 below
    ``low``, 1 above ``high``, linear between. ``low``/``high`` are scalars or ``[C]``; a class whose
    ``high`` is 0 is not gated (its gate is 1 throughout)."""
    lo = np.broadcast_to(np.asarray(low, np.float32), activity.shape[1:])
    hi = np.broadcast_to(np.asarray(high, np.float32), activity.shape[1:])
    width = np.maximum(hi - lo, 1e-6)
    g = np.clip((activity - lo) / width, 0.0, 1.0).astype(np.float32)
    g[:, hi <= 0] = 1.0
    return g


@dataclass
class Analysis:
    """Network outputs over a whole song at the model's frame rate.

    masks: ``[C, F, T]`` torch float16, summing to 1 over C, not gated (``render`` gates them
        segment by segment, so no full-size float32 copy is ever made).
    frame, onset, velocity: ``[T, R]`` float32 probabilities / 0-1 velocity.
    activity: ``[T, C]`` smoothed activity probabilities; gate: ``[T, C]`` in 0-1.
    """

    masks: torch.Tensor
    frame: np.ndarray
    onset: np.ndarray
    velocity: np.ndarray
    activity: np.ndarray
    gate: np.ndarray
    n_samples: int


def _crossfade_weights(L: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    w = np.ones(L, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not first:
            w[:overlap] = ramp
        if not last:
            w[L - overlap:] = ramp[::-1]
    return w


@torch.no_grad()
def analyze(model: torch.nn.Module, cfg: ModelConfig, mono: np.ndarray, chunk_seconds: float = 20.0,
            overlap_seconds: float = 2.0, batch_chunks: int = 4,
            device: str | torch.device = "cpu", progress: Callable[[int, int], None] | None = None,
            gate_low: np.ndarray | float = GATE_LOW, gate_high: np.ndarray | float = GATE_HIGH) -> Analysis:
    """Run the network over ``mono [samples]`` at ``cfg.sample_rate`` in overlapping chunks.

    Masks stay in torch float16 (a 10-minute song's are 230 MB) and on the CPU. The gate is
    ``activity_gate(activity, gate_low, gate_high)``."""
    from scipy.ndimage import median_filter

    x = torch.from_numpy(np.ascontiguousarray(mono, np.float32)).to(device)
    feats = log_magnitude(stft(x, cfg.n_fft, cfg.hop))                 # [F, T]
    F, T = feats.shape
    C = len(cfg.class_map)
    L = max(16, int(round(chunk_seconds * cfg.frame_rate)))
    O = min(int(round(overlap_seconds * cfg.frame_rate)), L // 2)
    if T <= L:
        starts = [0]
        L = T
    else:
        step = L - O
        starts = list(range(0, T - L, step)) + [T - L]
    # The last chunk is aligned to the end, so overlaps vary; outputs are weighted sums divided by
    # the summed weights, which keeps every output a convex combination (masks still sum to 1).
    masks = torch.zeros((C, F, T), dtype=torch.float16)
    R = sum(model.rows)
    frame = np.zeros((T, R), np.float32)
    onset, vel = np.zeros_like(frame), np.zeros_like(frame)
    act = np.zeros((T, C), np.float32)
    wsum = np.zeros(T, np.float32)
    for b0 in range(0, len(starts), batch_chunks):
        group = starts[b0:b0 + batch_chunks]
        out = model(torch.stack([feats[:, s:s + L] for s in group]), want_embeddings=False)
        for j, s in enumerate(group):
            i = b0 + j
            w = _crossfade_weights(L, O, first=i == 0, last=i + 1 == len(starts))
            wsum[s:s + L] += w
            masks[:, :, s:s + L] += (out.masks[j] * torch.from_numpy(w).to(out.masks.device)).to("cpu", torch.float16)
            frame[s:s + L] += torch.sigmoid(out.frame_logits[j]).cpu().numpy() * w[:, None]
            onset[s:s + L] += torch.sigmoid(out.onset_logits[j]).cpu().numpy() * w[:, None]
            vel[s:s + L] += out.velocity[j].cpu().numpy() * w[:, None]
            act[s:s + L] += torch.sigmoid(out.activity_logits[j]).cpu().numpy() * w[:, None]
        if progress:
            progress(min(b0 + batch_chunks, len(starts)), len(starts))
    inv = 1.0 / wsum
    uneven = np.flatnonzero(np.abs(wsum - 1.0) > 1e-6)       # only where cross-fades do not sum to 1
    if uneven.size:
        idx = torch.from_numpy(uneven)
        masks[:, :, idx] = (masks[:, :, idx].float() * torch.from_numpy(inv[uneven])).half()
    for a in (frame, onset, vel, act):
        a *= inv[:, None]
    k = max(1, int(round(GATE_SMOOTH_SECONDS * cfg.frame_rate)) | 1)
    act = median_filter(act, size=(k, 1), mode="nearest")
    return Analysis(masks, frame, onset, vel, act, activity_gate(act, gate_low, gate_high), len(mono))


def gate_masks(masks: torch.Tensor, g: torch.Tensor, catch: list[int]) -> torch.Tensor:
    """Scale each named class's mask ``[C, F, T]`` (float32) by its gate ``[C, T]``; the catch-all
    class (index ``catch[0]``) takes what is removed so masks still sum to 1 (without one, masks
    are renormalised). Returns a new tensor."""
    gated = masks * g[:, None, :]
    if catch:
        i = catch[0]
        gated[i] = 0.0
        gated[i] = (1.0 - gated.sum(0)).clamp_(0.0, 1.0)
    else:
        gated /= gated.sum(0, keepdim=True).clamp_min(1e-6)
    return gated


def temper_masks(masks: torch.Tensor, power: np.ndarray | float) -> torch.Tensor:
    """Raise each class's mask ``[C, F, T]`` (float32) to its power (a scalar or ``[C]``) and
    renormalise over classes: below 1 softens the masks towards an even split, above 1 sharpens
    them towards a binary mask (the exponent of a generalised Wiener filter). Returns a new tensor;
    all powers 1 returns the masks unchanged."""
    p = torch.as_tensor(np.broadcast_to(np.asarray(power, np.float32), masks.shape[:1]).copy())
    if bool((p == 1.0).all()):
        return masks
    m = masks ** p[:, None, None]          # masks sum to 1, so some class is >= 1/C: no 0/0
    return m / m.sum(0, keepdim=True)


def render_params(sample_rate: int, cfg: ModelConfig) -> tuple[int, int]:
    """(n_fft, hop) of the full-rate STFT: the model's window length rounded to a power of two."""
    n_fft = int(2 ** round(np.log2(cfg.n_fft * sample_rate / cfg.sample_rate)))
    return n_fft, n_fft // 4


def _interp_index(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip(pos, 0, n - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def render(audio: np.ndarray, sample_rate: int, analysis: Analysis, cfg: ModelConfig, classes: list[int],
           segment_seconds: float = 30.0, device: str | torch.device = "cpu", gate: bool = True,
           mask_power: np.ndarray | float = 1.0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start_sample, stems [len(classes), channels, n])`` segments covering the input.

    Stems are at the input's rate and channel count; the catch-all class, when asked for, is the
    input minus the other classes (so the full set sums to the input exactly). The masks are first
    tempered by ``mask_power`` (``temper_masks``; a scalar or ``[C]``), then, with ``gate``, scaled
    by the activity gate (``gate_masks``), a segment at a time.
    """
    n_fft, hop = render_params(sample_rate, cfg)
    C, F, T = analysis.masks.shape
    chans, N = audio.shape
    cmap = cfg.class_map
    catch = [j for j, ci in enumerate(classes) if cmap.classes[ci].catch_all]
    all_named = [i for i, c in enumerate(cmap.classes) if not c.catch_all]
    # Which classes need a masked iSTFT: those asked for, plus all named ones if the catch-all is asked.
    need = sorted(set(ci for ci in classes if not cmap.classes[ci].catch_all) | (set(all_named) if catch else set()))
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft) * (cfg.n_fft / cfg.sample_rate)
    f0, f1, fw = _interp_index(bins, F)
    f0t, f1t, fwt = torch.from_numpy(f0), torch.from_numpy(f1), torch.from_numpy(fw)[:, None]
    seg = max(hop, int(segment_seconds * sample_rate) // hop * hop)
    pad = n_fft
    x_all = torch.from_numpy(audio)
    gate_t = torch.from_numpy(np.ascontiguousarray(analysis.gate.T))     # [C, T]
    catch_model = [i for i, c in enumerate(cmap.classes) if c.catch_all]
    for s0 in range(0, N, seg):
        s1 = min(N, s0 + seg)
        a, b = s0 - pad, s1 + pad
        sl = torch.zeros(chans, b - a)
        lo, hi = max(a, 0), min(b, N)
        sl[:, lo - a:hi - a] = x_all[:, lo:hi]
        X = stft(sl.to(device), n_fft, hop)                                # [ch, Fi, Ti]
        Ti = X.shape[-1]
        # Model frame position of each full-rate frame: time = (a + i*hop)/sr.
        tpos = (a + np.arange(Ti) * hop) / sample_rate * cfg.frame_rate
        t0, t1, tw = _interp_index(tpos, T)
        lo, hi = int(t0.min()), int(t1.max()) + 1       # only this segment's model frames
        ti0, ti1 = torch.from_numpy(t0 - lo), torch.from_numpy(t1 - lo)
        twt = torch.from_numpy(tw)
        seg_masks = temper_masks(analysis.masks[:, :, lo:hi].float(), mask_power)   # [C, F, hi-lo]
        if gate:
            seg_masks = gate_masks(seg_masks, gate_t[:, lo:hi], catch_model)
        out = np.zeros((len(classes), chans, s1 - s0), np.float32)
        named_sum = None
        for ci in need:
            m = seg_masks[ci]                                                 # [F, hi-lo]
            mt = torch.lerp(m[:, ti0], m[:, ti1], twt)                         # [F, Ti]
            mf = torch.lerp(mt[f0t], mt[f1t], fwt)                             # [Fi, Ti]
            y = istft(X * mf.to(device), n_fft, hop, b - a)[:, pad:pad + s1 - s0]
            y = y.cpu().numpy()
            if catch:
                named_sum = y if named_sum is None else named_sum + y
            if ci in classes:
                out[classes.index(ci)] = y
        if catch:
            out[catch[0]] = audio[:, s0:s1] - (named_sum if named_sum is not None else 0.0)
        yield s0, out
