"""Separation by deep clustering, for models trained without the mask head (the paper's "DC" and
"DC+TR" ablations).

A deep-clustering head gives every time-frequency bin a unit embedding; bins of one source lie
close together, but no embedding says *which* class it is. So, as in the deep-clustering
literature, the bins are clustered with k-means into as many clusters as the mixture has sources,
each cluster becomes a binary mask, and the clusters are matched to the reference sources by the
assignment that maximises the summed SI-SDR (an oracle permutation: these scores are an upper
bound on what the DC head alone could deliver to a user, and tables say so).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from scipy.optimize import linear_sum_assignment

from ..spectral import istft, log_magnitude, stft
from . import metrics as M

# Bins this far below the loudest bin are left out of the clustering (the DC loss gives them no
# weight); they still get the nearest centroid's label.
DC_FLOOR_DB = -40.0
# At most this many bins feed k-means (a random subset); every bin is then assigned.
DC_MAX_POINTS = 200_000


@torch.no_grad()
def embeddings(model: torch.nn.Module, feats: torch.Tensor, chunk_frames: int = 1250) -> np.ndarray:
    """Deep-clustering embeddings ``[T, F, D]`` float32 of log-magnitude features ``[F, T]``,
    computed in consecutive chunks of ``chunk_frames`` (no cross-fade: the BLSTM sees each chunk
    whole, and clustering is per bin)."""
    F, T = feats.shape
    out = []
    for s in range(0, T, chunk_frames):
        o = model(feats[None, :, s:s + chunk_frames], want_embeddings=True)
        out.append(o.embeddings[0].float().cpu().numpy())
    return np.concatenate(out, axis=0)


def dc_separate(model: torch.nn.Module, cfg, mono: np.ndarray, refs: np.ndarray, n_clusters: int,
                seed: int = 0) -> np.ndarray:
    """Estimates ``[S, n]`` of the (audible) sources ``refs [S, n]`` from ``mono [n]``, both at
    ``cfg.sample_rate``: k-means on the embeddings into ``n_clusters >= S`` clusters (the number
    of sources in the mixture), binary masks, and the cluster-to-source assignment that maximises
    the summed SI-SDR."""
    S, n = refs.shape
    K = max(n_clusters, S)
    x = torch.from_numpy(np.ascontiguousarray(mono, np.float32))
    X = stft(x, cfg.n_fft, cfg.hop)                                        # [F, T] complex
    emb = embeddings(model, log_magnitude(X))                              # [T, F, D]
    T, F, D = emb.shape
    mag = X.abs().numpy().T                                                # [T, F]
    flat = emb.reshape(-1, D)
    loud = np.flatnonzero(mag.reshape(-1) > mag.max() * 10 ** (DC_FLOOR_DB / 20))
    rng = np.random.default_rng(seed)
    if loud.size > DC_MAX_POINTS:
        loud = rng.choice(loud, DC_MAX_POINTS, replace=False)
    if loud.size < K:  # (near) silence: nothing to cluster
        return np.zeros((S, n), np.float32)
    centroids, _ = kmeans2(flat[loud].astype(np.float64), K, minit="++", seed=seed)
    labels = np.argmax(flat @ centroids.T.astype(np.float32), axis=1).reshape(T, F)   # nearest on the sphere
    est = np.stack([istft(X * torch.from_numpy((labels == k).T.astype(np.float32)), cfg.n_fft, cfg.hop, n).numpy()
                    for k in range(K)])                                    # [K clusters, n]
    score = np.stack([M.si_sdr(refs, np.broadcast_to(e, refs.shape)) for e in est])   # [cluster, source]
    score = np.nan_to_num(score, nan=-100.0, neginf=-100.0, posinf=100.0)
    rows, cols = linear_sum_assignment(-score)               # one cluster per source
    out = np.zeros((S, n), np.float32)
    out[cols] = est[rows]
    return out
