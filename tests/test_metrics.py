"""Metric wrappers and oracle masks against hand-made cases with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from stemscribe.evaluate import metrics as M
from stemscribe.evaluate.oracle import ideal_binary_mask, ideal_ratio_mask
from stemscribe.notes import Note

SR = 16000


def noise(seconds: float = 1.0, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def tone(hz: float, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


# --- separation -------------------------------------------------------------------------------

def test_si_sdr_perfect_scaled_silent_and_noisy():
    s = noise()
    assert M.si_sdr(s, s) == M.SI_SDR_CLAMP_DB
    assert M.si_sdr(s, 0.5 * s) == M.SI_SDR_CLAMP_DB          # scale invariant
    assert M.si_sdr(s, np.zeros_like(s)) == -M.SI_SDR_CLAMP_DB
    # Independent noise 20 dB below the source: SI-SDR close to 20 dB.
    assert M.si_sdr(s, s + noise(seed=1, scale=0.01)) == pytest.approx(20.0, abs=0.3)


def test_si_sdr_validates_and_batches():
    with pytest.raises(ValueError, match="shapes differ"):
        M.si_sdr(noise(1.0), noise(0.5))
    with pytest.raises(ValueError, match="silent"):
        M.si_sdr(np.zeros(100), noise(100 / SR))
    with pytest.raises(ValueError, match="signals, samples"):
        M.si_sdr(np.zeros((2, 2, 100)), np.zeros((2, 2, 100)))
    refs = np.stack([noise(seed=0), noise(seed=1)])
    ests = np.stack([refs[0], refs[1] + noise(seed=2, scale=0.01)])
    batch = M.si_sdr(refs, ests)
    assert batch.shape == (2,) and batch[0] == M.SI_SDR_CLAMP_DB
    assert batch[1] == pytest.approx(M.si_sdr(refs[1], ests[1]))


def test_silence_threshold():
    assert M.is_silent(np.zeros(1000))
    assert M.is_silent(np.full(1000, 1e-5))                   # -100 dBFS
    assert not M.is_silent(noise())


def test_bss_eval_perfect_mixture_and_batched():
    refs = np.stack([noise(seed=0), noise(seed=1)])
    perfect = M.bss_eval(refs, refs)
    assert perfect["sdr"].shape == (2,) and (perfect["sdr"] > 60).all()
    # The mixture as the estimate of two equal-power independent sources: SDR and SIR near 0 dB.
    mix = refs.sum(0)[None]
    m = M.bss_eval(refs, mix, pairs=[(0, 0), (0, 1)])
    assert np.abs(m["sdr"]).max() < 0.5 and np.abs(m["sir"]).max() < 0.5
    # Several systems in one call give the same numbers as fast_bss_eval's public function.
    import fast_bss_eval
    import torch

    noisy = refs + np.stack([noise(seed=2, scale=0.01), noise(seed=3, scale=0.01)])
    both = M.bss_eval(refs, np.concatenate([noisy, mix]), pairs=[(0, 0), (1, 1), (2, 0), (2, 1)])
    assert both["sdr"].shape == (4,)
    ref_sdr, ref_sir, ref_sar = fast_bss_eval.bss_eval_sources(
        torch.from_numpy(refs.astype(np.float64)), torch.from_numpy(noisy.astype(np.float64)),
        compute_permutation=False)
    np.testing.assert_allclose(both["sdr"][:2], ref_sdr.numpy(), atol=1e-6)
    np.testing.assert_allclose(both["sir"][:2], ref_sir.numpy(), atol=1e-6)
    np.testing.assert_allclose(both["sar"][:2], ref_sar.numpy(), atol=1e-6)
    np.testing.assert_allclose(both["sir"][2:], m["sir"], atol=1e-6)
    assert both["sdr"][:2] == pytest.approx([20.0, 20.0], abs=0.5)


def test_bss_eval_with_several_torch_threads():
    """torch 2.13's CPU build fails batched linalg.solve with more than one thread; bss_eval must
    work whatever the caller's thread setting is, and leave it as it was."""
    import torch

    refs = np.stack([noise(seed=0), noise(seed=1), noise(seed=4)])
    est = refs + 0.1 * np.stack([noise(seed=5), noise(seed=6), noise(seed=7)])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        m = M.bss_eval(refs, est)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert np.all(m["sdr"] > 15)


def test_bss_eval_validates():
    refs = np.stack([noise(seed=0), np.zeros(SR, np.float32)])
    with pytest.raises(ValueError, match="silent"):
        M.bss_eval(refs, refs)
    with pytest.raises(ValueError, match="one estimate per reference"):
        M.bss_eval(refs[:1], refs)
    with pytest.raises(ValueError, match="pairs"):
        M.bss_eval(refs[:1], refs[:1], pairs=[(0, 1)])
    with pytest.raises(ValueError, match="too short"):
        M.bss_eval(np.ones((1, 100)), np.ones((1, 100)))


# --- transcription ----------------------------------------------------------------------------

REF = [Note(60, 0.5, 1.0), Note(64, 1.0, 1.5), Note(67, 2.0, 3.0)]


def shifted(notes, dt):
    return [Note(n.pitch, n.start + dt, n.end + dt, n.velocity) for n in notes]


def test_note_scores_perfect_and_shifted():
    s = M.note_scores(REF, REF)
    assert s["onset"]["f1"] == 1.0 and s["onset_offset"]["f1"] == 1.0
    assert M.note_scores(REF, shifted(REF, 0.04))["onset"]["f1"] == 1.0   # within 50 ms
    assert M.note_scores(REF, shifted(REF, -0.045))["onset"]["f1"] == 1.0
    assert M.note_scores(REF, shifted(REF, 0.06))["onset"]["f1"] == 0.0   # beyond 50 ms


def test_note_scores_offsets_and_empty():
    long = [Note(n.pitch, n.start, n.end + 0.5 * (n.end - n.start)) for n in REF]
    s = M.note_scores(REF, long)
    assert s["onset"]["f1"] == 1.0 and s["onset_offset"]["f1"] == 0.0
    assert M.note_scores([], REF) is None                     # undefined without reference notes
    assert M.note_scores(REF, [])["onset"]["f1"] == 0.0
    with pytest.raises(ValueError, match="invalid interval"):
        M.note_scores([Note(60, 1.0, 0.5)], REF)


def test_frame_scores():
    assert M.frame_scores(REF, REF, 3.5)["f1"] == 1.0
    half = M.frame_scores(REF, [REF[2]], 3.5)
    assert half["precision"] == 1.0 and half["recall"] == pytest.approx(0.5, abs=0.02)
    assert M.frame_scores(REF, [], 3.5)["f1"] == 0.0
    assert M.frame_scores([], REF, 3.5) is None


def test_frame_scores_equal_mir_eval_multipitch():
    rng = np.random.default_rng(0)

    def random_notes(n):
        starts = rng.uniform(0, 4, n)
        return [Note(int(rng.integers(40, 80)), float(a), float(a + rng.uniform(0.01, 1.0))) for a in starts]

    for _ in range(3):
        ref, est = random_notes(40), random_notes(40) + random_notes(5)
        fast, slow = M.frame_scores(ref, est, 5.0), M.frame_scores_mir_eval(ref, est, 5.0)
        for k in ("precision", "recall", "f1"):
            assert fast[k] == pytest.approx(slow[k], abs=1e-12)


def test_drum_mapping_and_scores():
    ref = [Note(36, 0.0, 0.1), Note(38, 0.5, 0.6), Note(42, 1.0, 1.1), Note(54, 1.2, 1.3)]  # 54: tambourine
    # Other GM notes of the same drum classes (35 kick, 40 snare, 46 open hi-hat) match.
    est = [Note(35, 0.01, 0.1), Note(40, 0.52, 0.6), Note(46, 0.98, 1.1)]
    s = M.drum_scores(ref, est)
    assert s["kick"]["f1"] == s["snare"]["f1"] == s["hihat"]["f1"] == s["overall"]["f1"] == 1.0
    assert s["toms"] is None and s["cymbals"] is None
    # A snare hit transcribed as a kick: right time, wrong class.
    wrong = M.drum_scores(ref, [Note(36, 0.0, 0.1), Note(36, 0.5, 0.6), Note(42, 1.0, 1.1)])
    assert wrong["snare"]["f1"] == 0.0 and wrong["kick"]["precision"] == 0.5
    assert wrong["overall"]["f1"] == pytest.approx(2 / 3)
    assert M.drum_notes_by_class(ref)["kick"].tolist() == [0.0]


# --- activity ---------------------------------------------------------------------------------

def test_audible_frames_and_activity_f1():
    stem = np.concatenate([tone(440, 1.0), np.zeros(SR, np.float32)])
    mix = stem + np.concatenate([np.zeros(SR, np.float32), tone(220, 1.0)])
    fr = 50.0
    on = M.audible_frames(stem, mix, SR, fr, 100)
    assert on[5:45].all() and not on[55:].any()
    est = M.segments_to_frames([(0.0, 1.0)], fr, 100)
    assert M.activity_scores(on, est)["f1"] > 0.95
    assert M.activity_scores(on, ~est)["f1"] < 0.1   # only the 50 ms window edge overlaps
    assert M.activity_scores(np.zeros(100, bool), est) is None
    # A stem 40 dB under the mixture is not audible.
    assert not M.audible_frames(0.01 * stem, mix, SR, fr, 100).any()


# --- oracle masks -----------------------------------------------------------------------------

@pytest.mark.parametrize("mask", [ideal_ratio_mask, ideal_binary_mask])
def test_oracle_masks_beat_the_mixture(mask):
    sources = np.stack([tone(440, 2.0), noise(2.0, scale=0.05)])
    est = mask(sources)
    assert est.shape == sources.shape
    np.testing.assert_allclose(est.sum(0), sources.sum(0), atol=1e-4)   # masks sum to one
    mix = sources.sum(0)
    for i in range(2):
        oracle, baseline = M.si_sdr(sources[i], est[i]), M.si_sdr(sources[i], mix)
        assert oracle > 15.0 and oracle > baseline + 10.0


def test_oracle_validates():
    with pytest.raises(ValueError, match="shorter"):
        ideal_ratio_mask(np.ones((2, 100)))
    with pytest.raises(ValueError, match="sources"):
        ideal_binary_mask(np.ones(5000))


def test_bss_eval_fallback_matches():
    # If fast_bss_eval's internals change, its public function (one call per pair) gives the same numbers.
    refs = np.stack([noise(seed=0), noise(seed=1)]).astype(np.float64)
    ests = np.concatenate([refs + 0.1 * np.stack([noise(seed=2), noise(seed=3)]), refs.sum(0)[None]])
    pairs = np.array([(0, 0), (1, 1), (2, 0), (2, 1)])
    fast = M._bss_eval_batched(refs, ests, pairs, 512)
    slow = M._bss_eval_public(refs, ests, pairs, 512)
    for a, b in zip(fast[:2], slow[:2]):
        np.testing.assert_allclose(a, b, atol=1e-6)
