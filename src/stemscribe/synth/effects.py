"""Per-stem timbre and room variety with pedalboard: EQ, compression, drive, chorus, phaser, reverb.

Chains are drawn from a seeded generator per stem and depend on the stem's class (drive only on
electric guitars, gentler reverb on bass and drums, ...). No plugin here adds latency: filters
are IIR, the compressor has no look-ahead, the reverb has no pre-delay, and chorus/phaser are
mixed with the dry signal (dry share >= 0.6), so the dry onset stays where it was; reverb tails
and chorus smear come after the onset, never before. ``alignment_check`` in ``benchmark.py``
measures this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ELECTRIC_GUITARS = frozenset({26, 27, 28, 29, 30, 31})


@dataclass(frozen=True)
class EffectsConfig:
    """Probabilities and ranges of the random per-stem effects.

    reverb: probability a stem gets reverb (drums and bass get it at half this rate).
    compressor, chorus, phaser: probabilities for each stem (chorus/phaser only on
        guitar, piano and other).
    drive: probability an electric guitar gets overdrive.
    eq_band: probability of each of the low-shelf, peak and high-shelf EQ bands.
    eq_db: maximum boost/cut of the random shelf and peak filters, dB.
    """

    reverb: float = 0.7
    compressor: float = 0.5
    chorus: float = 0.2
    phaser: float = 0.08
    drive: float = 0.4
    eq_band: float = 0.5
    eq_db: float = 5.0


def random_chain(rng: np.random.Generator, cls: str, program: int, cfg: EffectsConfig = EffectsConfig()):
    """A random pedalboard.Pedalboard for one stem of class ``cls`` (GM ``program``)."""
    import pedalboard as pb

    u = rng.uniform
    fx = [pb.HighpassFilter(float(u(20, 40) if cls in ("bass", "drums") else u(30, 120)))]
    # Each EQ band is present half the time: variety at half the cost of always running all three.
    if rng.random() < cfg.eq_band:
        fx.append(pb.LowShelfFilter(float(u(80, 300)), float(u(-cfg.eq_db, cfg.eq_db))))
    if rng.random() < cfg.eq_band:
        fx.append(pb.PeakFilter(float(np.exp(u(np.log(200), np.log(6000)))), float(u(-cfg.eq_db, cfg.eq_db)),
                                float(u(0.5, 2.0))))
    if rng.random() < cfg.eq_band:
        fx.append(pb.HighShelfFilter(float(u(3000, 10000)), float(u(-cfg.eq_db, cfg.eq_db))))
    if cls == "guitar" and program in ELECTRIC_GUITARS and rng.random() < cfg.drive:
        drive = float(u(6, 24))
        fx += [pb.Distortion(drive), pb.Gain(-0.8 * drive), pb.LowpassFilter(float(u(3500, 7000)))]
    if rng.random() < cfg.compressor:
        fx.append(pb.Compressor(float(u(-30, -10)), float(u(1.5, 6)), float(u(2, 25)), float(u(50, 300))))
    if cls in ("guitar", "piano", "other"):
        if rng.random() < cfg.chorus:
            fx.append(pb.Chorus(float(u(0.3, 2.0)), float(u(0.1, 0.35)), float(u(2, 7)), 0.0, float(u(0.15, 0.4))))
        if rng.random() < cfg.phaser:
            fx.append(pb.Phaser(float(u(0.2, 1.5)), float(u(0.3, 0.7)), float(u(500, 2500)), 0.0, float(u(0.15, 0.4))))
    if rng.random() < (cfg.reverb / 2 if cls in ("bass", "drums") else cfg.reverb):
        fx.append(pb.Reverb(room_size=float(u(0.1, 0.85)), damping=float(u(0.2, 0.8)),
                            wet_level=float(u(0.05, 0.3)), dry_level=float(u(0.75, 1.0)), width=0.0))
    return pb.Pedalboard(fx)


def apply_chain(chain, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Run a chain over mono float32 ``[samples]`` and return ``[samples]`` (same length)."""
    out = chain(audio[None].astype(np.float32), float(sample_rate), reset=True)
    return np.asarray(out[0, : len(audio)], np.float32)
