"""Network heads, losses, training steps, checkpoints (tiny configs)."""
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from stemscribe.checkpoint import CheckpointError, average_checkpoints, load_model, read_checkpoint, save_checkpoint
from stemscribe.data.dataset import MixtureSampler, load_dataset
from stemscribe.hub import tiny_config
from stemscribe.model import JointNet
from stemscribe.presets import load_preset, names
from stemscribe.train import compute_losses, to_tensors, train


def test_every_head_has_the_documented_shape():
    cfg = tiny_config()
    net = JointNet(cfg).eval()
    B, T = 2, 40
    out = net(torch.rand(B, cfg.n_bins, T))
    C, R = 6, 5 * 88 + 5
    assert out.masks.shape == (B, C, cfg.n_bins, T)
    torch.testing.assert_close(out.masks.sum(1), torch.ones(B, cfg.n_bins, T))
    assert out.embeddings.shape == (B, T, cfg.n_bins, cfg.dc_dim)
    torch.testing.assert_close(out.embeddings.norm(dim=-1), torch.ones(B, T, cfg.n_bins))
    assert out.frame_logits.shape == out.onset_logits.shape == out.velocity.shape == (B, T, R)
    assert out.activity_logits.shape == (B, T, C)
    assert [x.shape[-1] for x in net.split_rows(out.frame_logits)] == [88, 88, 88, 5, 88, 88]
    sub = net(torch.rand(B, cfg.n_bins, T), dc_frames=torch.tensor([0, 5, 7]))
    assert sub.embeddings.shape == (B, 3, cfg.n_bins, cfg.dc_dim)


def test_presets_cover_the_paper_ablations():
    assert {"default", "tiny", "dc", "mi", "tr", "chimera", "mi_tr", "dc_tr", "cerberus"} <= set(names())
    _, tc = load_preset("chimera")
    assert (tc.w_dc, tc.w_mi, tc.w_tr, tc.w_act) == (1.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown preset"):
        load_preset("nope")


@pytest.fixture(scope="module")
def sampler(tiny_slakh, tmp_path_factory):
    cfg = tiny_config()
    tracks = load_dataset([tiny_slakh], tmp_path_factory.mktemp("cache"), cfg.class_map, cfg.sample_rate, False)
    return MixtureSampler(tracks, cfg.class_map, cfg.sample_rate, cfg.hop, 1.0, seed=0)


def test_batches_are_consistent(sampler):
    b = sampler.batch(3)
    np.testing.assert_allclose(b.stems.sum(1), b.mixture, atol=1e-6)
    assert b.frames.shape == (3, sampler.n_frames, 445) and b.activity.shape == (3, sampler.n_frames, 6)
    # Only the classes of the data (piano, bass, drums) ever carry labels.
    assert b.activity[..., [1, 4, 5]].sum() == 0 and b.frames.sum() > 0


def test_random_equaliser_is_smooth_bounded_and_keeps_mixtures_consistent(tiny_slakh, tmp_path):
    from stemscribe.data.dataset import equalise, random_eq_db

    rng = np.random.default_rng(0)
    curves = np.stack([random_eq_db(8001, 16000, rng, 9.0) for _ in range(50)])
    assert np.abs(curves).max() <= 9.0 + 1e-4 and np.abs(curves).max(1).std() > 1.0     # U(0, 9) peaks
    semitones = np.round(40 * 2 ** (np.arange(0, 12 * np.log2(8000 / 40)) / 12)).astype(int)
    assert np.abs(np.diff(curves[:, semitones], axis=1)).max() < 1.5    # smooth over log frequency
    assert not random_eq_db(8001, 16000, rng, 0.0).any()
    # A 2 kHz tone comes out scaled by the curve's gain at 2 kHz.
    t = np.arange(16000) / 16000
    g = random_eq_db(8001, 16000, rng, 9.0)
    y = equalise(np.sin(2 * np.pi * 2000 * t).astype(np.float32), g)
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(g[2000], abs=0.05)
    cfg = tiny_config()
    tracks = load_dataset([tiny_slakh], tmp_path / "cache", cfg.class_map, cfg.sample_rate, False)
    plain = MixtureSampler(tracks, cfg.class_map, cfg.sample_rate, cfg.hop, 1.0, seed=3).batch(2)
    eq = MixtureSampler(tracks, cfg.class_map, cfg.sample_rate, cfg.hop, 1.0, seed=3, eq_db=9.0).batch(2)
    np.testing.assert_allclose(eq.stems.sum(1), eq.mixture, atol=1e-6)
    assert not np.allclose(eq.stems, plain.stems) and eq.frames.sum() > 0


def test_signal_to_noise_loss_scores_present_and_silent_stems():
    from stemscribe.model.losses import signal_to_noise_loss

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 3, 800, generator=g)
    ref[:, 2] = 0.0                                    # a silent class
    mix = ref.sum(1)
    # Perfect estimates score the cap (30 dB) everywhere: loss -3.
    torch.testing.assert_close(signal_to_noise_loss(ref.clone(), ref, mix), torch.tensor(-3.0))
    # An all-zero estimate of a present stem is 0 dB (less the threshold's 0.004); of the silent one, perfect.
    zero = ref.clone(); zero[:, 0] = 0.0
    expect = torch.tensor(-(60 - 10 * np.log10(1.001)) / 30, dtype=torch.float32)
    torch.testing.assert_close(signal_to_noise_loss(zero, ref, mix), expect, atol=1e-5, rtol=0)
    # Leakage of the mixture into the silent class is penalised, the more the worse.
    leak = [signal_to_noise_loss(torch.cat([ref[:, :2], a * mix[:, None]], 1), ref, mix) for a in (0.01, 0.1, 1.0)]
    assert -3.0 < leak[0] < leak[1] < leak[2]
    # Half the stem: 6.02 dB (with the threshold) on one of three classes.
    half = ref.clone(); half[:, 1] *= 0.5
    expect = -(30 + 30 - 10 * np.log10(0.25 + 1e-3)) / 30
    torch.testing.assert_close(signal_to_noise_loss(half, ref, mix), torch.tensor(expect, dtype=torch.float32),
                               atol=1e-5, rtol=0)


def test_mask_loss_norms_l1_median_l2_mean():
    """A bin whose target mask is 0 in one example and 1 in the other: L2 is smallest at the mean
    mask 0.5 (zero gradient there), L1 is flat between them; both are 0 at the oracle mask."""
    from stemscribe.model.losses import mask_inference_loss

    X = torch.ones(2, 1, 1, dtype=torch.complex64)                 # [B, F, T]
    S = torch.stack([torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])]).to(torch.complex64)
    S = S.reshape(2, 2, 1, 1)                                       # [B, C, F, T]
    oracle = S.real.clone()
    for norm in ("l1", "l2"):
        assert float(mask_inference_loss(oracle, X, S, norm)) == pytest.approx(0.0, abs=1e-6)
    half = torch.full((1, 2, 1, 1), 0.5, requires_grad=True)        # one mask for both examples
    mask_inference_loss(half.expand(2, 2, 1, 1), X, S, "l2").backward()
    assert half.grad.abs().max() < 1e-6
    l2 = [float(mask_inference_loss(torch.full((2, 2, 1, 1), m), X, S, "l2")) for m in (0.1, 0.3, 0.5)]
    l1 = [float(mask_inference_loss(torch.full((2, 2, 1, 1), m), X, S, "l1")) for m in (0.1, 0.3, 0.5)]
    assert l2[0] > l2[1] > l2[2]
    assert l1 == pytest.approx([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        mask_inference_loss(oracle, X, S, "l3")


def test_repeat_onset_weight_weighs_only_re_strikes():
    """Two notes of one pitch back to back (from notes_to_rolls) and one after a gap: with the
    weight, missing the re-strike's onset costs more, missing the onset after the gap does not."""
    from stemscribe.model.losses import transcription_loss
    from stemscribe.notes import Note, notes_to_rolls, pitch_row

    fr = 10.0
    notes = [Note(60, 0.0, 0.5), Note(60, 0.5, 1.0), Note(60, 1.5, 2.0)]
    frames, onsets, vel = (torch.from_numpy(a)[None] for a in notes_to_rolls(notes, 25, fr, False))
    r = pitch_row(60, False)
    assert onsets[0, [0, 5, 15], r].tolist() == [1.0, 1.0, 1.0] and frames[0, 4, r] == 1 and frames[0, 14, r] == 0

    def loss(miss: int, w: float) -> float:
        logits = torch.where(onsets > 0, 8.0, -8.0)
        logits[0, miss, r] = -8.0                                   # this onset is missed
        return float(transcription_loss(frames * 16 - 8, logits, vel, frames, onsets, vel, 5.0, w))

    assert loss(5, 3.0) > loss(5, 1.0) * 2.5                        # the re-strike weighs 3x
    assert loss(15, 3.0) == pytest.approx(loss(15, 1.0), rel=1e-3)  # an onset after silence does not
    assert loss(0, 3.0) == pytest.approx(loss(0, 1.0), rel=1e-3)    # nor the first note


def test_mi_loss_norm_is_a_checked_training_option(sampler, tmp_path, capsys):
    from stemscribe.cli import main

    _, tc = load_preset("mi")
    with pytest.raises(ValueError, match="mi_loss must be 'l1' or 'l2'"):
        replace(tc, mi_loss="l3")
    out = tmp_path / "run"
    assert main(["train", "--preset", "mi", "--out", str(out), "--set", "mi_loss=l3"]) == 1
    assert "training config: mi_loss must be 'l1' or 'l2', not 'l3'" in capsys.readouterr().err
    assert not out.exists()
    cfg = tiny_config()
    torch.manual_seed(0)
    net = JointNet(cfg)
    t = to_tensors(sampler.batch(2), torch.device("cpu"))
    l1 = compute_losses(net, cfg, tc, t, None)["mi"]
    l2 = compute_losses(net, cfg, replace(tc, mi_loss="l2"), t, None)["mi"]
    assert l1.item() != pytest.approx(l2.item())
    l2.backward()
    assert net.mask_head.weight.grad.abs().sum() > 0


def test_mi_snr_term_trains_the_masks(sampler):
    torch.manual_seed(0)
    cfg = tiny_config()
    _, tc = load_preset("mi")
    tc = replace(tc, mi_snr_weight=1.0)
    net = JointNet(cfg)
    t = to_tensors(sampler.batch(2), torch.device("cpu"))
    ls = compute_losses(net, cfg, tc, t, None)
    assert {k for k in ls if not k.startswith("_")} == {"mi", "snr", "total"}
    torch.testing.assert_close(ls["total"], ls["mi"] + ls["snr"])
    ls["snr"].backward()
    assert net.mask_head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("preset", ["default", "mi", "tr", "chimera"])
def test_loss_falls_when_fitting_one_batch(sampler, preset):
    torch.manual_seed(0)
    cfg = tiny_config()
    _, tc = load_preset(preset)
    tc = replace(tc, dc_frame_fraction=1.0)
    net = JointNet(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    t = to_tensors(sampler.batch(2), torch.device("cpu"))
    losses = []
    for _ in range(25):
        ls = compute_losses(net, cfg, tc, t, None)
        opt.zero_grad(); ls["total"].backward(); opt.step()
        losses.append(ls["total"].item())
    trained = {k for k in ("mi", "dc", "tr", "act") if getattr(tc, f"w_{k}") > 0}
    assert trained == {k for k in ls if not k.startswith("_") and k != "total"}
    assert losses[-1] < 0.8 * losses[0], losses


def test_train_writes_checkpoints_and_resumes(tiny_slakh, tmp_path):
    mcfg, tc = load_preset("tiny")
    tc = replace(tc, steps=6, val_every=3, log_every=2)
    out = tmp_path / "run"
    train(mcfg, tc, [tiny_slakh], [], out, tmp_path / "cache", quiet=True)
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    model, cfg, ck = load_model(out / "last.pt")
    assert ck["step"] == 6 and ck["train_config"]["preset"] == "tiny" and cfg == mcfg
    train(mcfg, replace(tc, steps=9), [tiny_slakh], [], out, tmp_path / "cache", resume=True, quiet=True)
    _, _, ck2 = load_model(out / "last.pt")
    assert ck2["step"] == 9
    lines = (out / "log.jsonl").read_text().splitlines()
    assert any('"val_si_sdr"' in l for l in lines)


def test_train_with_loader_workers_and_a_time_budget(tiny_slakh, tmp_path):
    """Batches drawn by two worker processes train the model; a wall-clock budget ends the loop
    (validating and saving) before the step cap, with the schedule's learning rate at its floor."""
    import json

    from stemscribe.train import lr_at

    mcfg, tc = load_preset("tiny")
    tc = replace(tc, steps=10_000, val_every=10_000, log_every=1, warmup_steps=1, loader_workers=2,
                 time_budget_s=4.0)
    out = tmp_path / "run"
    res = train(mcfg, tc, [tiny_slakh], [], out, tmp_path / "cache", quiet=True)
    _, _, ck = load_model(out / "last.pt")
    assert 1 <= ck["step"] == res["steps"] < tc.steps
    rows = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == ck["step"] and "val_si_sdr" in rows[-1]       # validated at the stop
    steps = [r for r in rows if "lr" in r]
    assert steps[-1]["lr"] == pytest.approx(tc.lr_min, rel=1e-3)              # the budget's end
    assert lr_at(1, tc, 0.5) == pytest.approx(tc.lr_min + 0.5 * (tc.lr - tc.lr_min))
    # The checkpoint keeps the time trained, so resuming a spent budget continues the schedule at
    # its floor and stops after one step, rather than starting the cosine (and the budget) again.
    assert ck["extra"]["elapsed_s"] >= tc.time_budget_s
    res2 = train(mcfg, tc, [tiny_slakh], [], out, tmp_path / "cache", resume=True, quiet=True)
    assert res2["steps"] == ck["step"] + 1
    assert res2["lr"] == pytest.approx(tc.lr_min, rel=1e-3)
    with pytest.raises(ValueError, match="loader_workers"):
        replace(tc, loader_workers=-1)


def test_train_runs_under_torchrun_with_two_processes(tiny_slakh, tmp_path):
    """The same command, started by torchrun with two CPU ranks (gloo), trains with
    DistributedDataParallel: rank 0 reports a world of 2, logs and writes the checkpoints."""
    out, cache = tmp_path / "ddp", tmp_path / "cache"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "stemscribe", "train", "--preset", "tiny", "--data", str(tiny_slakh), "--val-data",
           "--out", str(out), "--cache", str(cache), "--steps", "4", "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "world 2" in r.stdout
    _, _, ck = load_model(out / "last.pt")
    assert ck["step"] == 4
    # every track was cached exactly once, with no temporary folders left behind
    cached = [p for p in cache.rglob("*") if p.is_dir() and p.name.startswith("Track")]
    assert len(cached) == 3 and all((p / "done").is_file() for p in cached)
    assert not [p for p in cache.rglob(".*") if p.is_dir()]


def test_checkpoint_round_trip_and_errors(tmp_path):
    cfg = tiny_config()
    net = JointNet(cfg).eval()
    save_checkpoint(tmp_path / "m.pt", net, cfg, half=True)
    back, cfg2, _ = load_model(tmp_path / "m.pt")
    assert cfg2 == cfg
    x = torch.rand(1, cfg.n_bins, 20)
    torch.testing.assert_close(back(x).masks, net(x).masks, atol=2e-3, rtol=0)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_model(tmp_path / "bad.pt")


def _two_tiny_checkpoints(tmp_path):
    """Two differently initialised tiny networks saved as a.pt (step 7) and b.pt (step 9)."""
    cfg = tiny_config()
    torch.manual_seed(0)
    a, b = JointNet(cfg), JointNet(cfg)
    save_checkpoint(tmp_path / "a.pt", a, cfg, step=7)
    save_checkpoint(tmp_path / "b.pt", b, cfg, step=9)
    return cfg, a, b


def test_checkpoint_average_is_the_mean_of_the_weights_and_checks_configs(tmp_path):
    cfg, a, b = _two_tiny_checkpoints(tmp_path)
    avg, cfg2, first = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"])
    assert cfg2 == cfg and first["step"] == 7
    sa, sb, sm = a.state_dict(), b.state_dict(), avg.state_dict()
    for k, v in sm.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (sa[k] + sb[k]) / 2)
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)   # the two really differ
    other = replace(cfg, rnn_dim=cfg.rnn_dim * 2)
    save_checkpoint(tmp_path / "c.pt", JointNet(other), other)
    with pytest.raises(CheckpointError, match="c.pt"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "c.pt"])


def test_average_script_writes_float16_as_shipped_and_never_overwrites(tmp_path):
    _, a, b = _two_tiny_checkpoints(tmp_path)
    script = Path(__file__).resolve().parents[1] / "scripts/average_checkpoints.py"
    cmd = [sys.executable, str(script), str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    r = subprocess.run(cmd + ["--out", str(tmp_path / "h.pt"), "--half"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    sd = read_checkpoint(tmp_path / "h.pt")["state_dict"]
    sa, sb = a.state_dict(), b.state_dict()
    floats = [k for k in sd if sd[k].is_floating_point()]
    assert floats and all(sd[k].dtype == torch.float16 for k in floats)
    for k in floats:
        torch.testing.assert_close(sd[k], ((sa[k] + sb[k]) / 2).half())
    before = (tmp_path / "h.pt").read_bytes()
    r = subprocess.run(cmd + ["--out", str(tmp_path / "h.pt")], capture_output=True, text=True)
    assert r.returncode != 0 and "already exists" in r.stderr
    assert (tmp_path / "h.pt").read_bytes() == before


def test_transcription_starts_at_the_sparse_prior():
    # Large initial BCE gradients from 0.5-probability outputs stalled mask inference (seen in a
    # real run); the transcription logits must start near the prior instead.
    cfg = tiny_config()
    out = JointNet(cfg).eval()(torch.rand(1, cfg.n_bins, 10))
    assert torch.sigmoid(out.frame_logits).mean() < 0.05
    assert torch.sigmoid(out.onset_logits).mean() < 0.05


def test_log_frequency_matrix_puts_a_tone_on_its_key():
    """A sine at key k's f0 peaks within a bin of the key's centre bin of the log-frequency
    spectrum (below about 500 Hz the 15.6 Hz STFT bins, not the log bins, limit where the peak
    falls), and the rows above Nyquist are empty."""
    from stemscribe.model.pitch import log_frequency_matrix
    from stemscribe.notes import midi_to_hz
    from stemscribe.spectral import stft

    sr, n_fft, bps = 16000, 1024, 3
    W = torch.from_numpy(log_frequency_matrix(sr, n_fft, 21 - 1 / 3, 88 * bps + 120, bps))
    np.testing.assert_allclose(W.sum(1)[:264].numpy(), 1.0, rtol=1e-5)
    assert float(W[-1].abs().sum()) == 0.0            # far above 8 kHz
    t = torch.arange(sr) / sr
    for key in (60, 69, 84, 100):
        f0 = float(midi_to_hz(key))
        spec = stft(torch.sin(2 * np.pi * f0 * t), n_fft, 256).abs().mean(-1)   # [513]
        logspec = W @ spec
        assert abs(int(logspec[:264].argmax()) - ((key - 21) * bps + 1)) <= 1, key


def test_pitch_branch_is_key_equivariant_and_shaped():
    """The pitch features of a tone shifted by a semitone are the features shifted by one key."""
    from stemscribe.model.pitch import HarmonicPitchFront
    from stemscribe.notes import midi_to_hz
    from stemscribe.spectral import log_magnitude, stft

    torch.manual_seed(0)
    front = HarmonicPitchFront(16000, 1024, channels=4).eval()
    t = torch.arange(16000) / 16000

    def feats(key):
        x = sum(torch.sin(2 * np.pi * h * float(midi_to_hz(key)) * t) / h for h in (1, 2, 3))
        return front(log_magnitude(stft(x, 1024, 256)).unsqueeze(0))[0, 20:40].mean(0)   # [88, 4]

    with torch.no_grad():
        a, b = feats(72), feats(73)
    assert a.shape == (88, 4)
    # Not exact (STFT bins are linear), but far closer shifted than unshifted.
    assert (a[40:60] - b[41:61]).abs().mean() < 0.5 * (a[40:60] - b[40:60]).abs().mean()


@pytest.mark.parametrize("old_arch,new_arch,new_prefix", [("crnn-v1", "crnn-v2", "pitch"),
                                                         ("crnn-v2", "crnn-v3", "note_mask"),
                                                         ("crnn-v3", "crnn-v4", "refine")])
def test_newer_arch_initialised_from_older_weights_computes_what_it_did(tmp_path, old_arch, new_arch, new_prefix):
    """crnn-v2's pitch branch, crnn-v3's note-informed masks and crnn-v4's mask refinement start as
    no-ops, so warm-starting from the previous architecture's checkpoint loses nothing; then the
    new parts train."""
    from stemscribe.checkpoint import init_from

    torch.manual_seed(0)
    old = JointNet(replace(tiny_config(), arch=old_arch)).eval()
    save_checkpoint(tmp_path / "old.pt", old, old.cfg)
    new_net = JointNet(replace(tiny_config(), arch=new_arch)).eval()
    assert (new_net.pitch is not None) and (old.pitch is not None) == (old_arch != "crnn-v1")
    assert (new_net.note_mask is not None) == (new_arch != "crnn-v2")
    assert (old.note_mask is not None) == (old_arch == "crnn-v3")
    assert (new_net.refine is not None) == (new_arch == "crnn-v4") and old.refine is None
    added = init_from(new_net, tmp_path / "old.pt")
    assert added and all(k.startswith(new_prefix) for k in added)
    x = torch.rand(2, old.cfg.n_bins, 30) * 4
    with torch.no_grad():
        o1, o2 = old(x), new_net(x)
    torch.testing.assert_close(o1.masks, o2.masks)
    torch.testing.assert_close(o1.frame_logits, o2.frame_logits)
    # ...and the new part is trained by the losses that reach it.
    opt = torch.optim.SGD(new_net.parameters(), lr=0.1)
    new_net.train()
    for _ in range(2):
        out = new_net(x)
        loss = out.frame_logits.sigmoid().mean() + out.masks[:, 0].mean()
        opt.zero_grad(); loss.backward(); opt.step()
    moved = {"pitch": lambda: new_net.pitch_out_w, "note_mask": lambda: new_net.note_mask.harmonic_weights,
             "refine": lambda: new_net.refine.out.weight}[new_prefix]()
    assert float(moved.detach().abs().sum()) > 0
    # A checkpoint of a bigger network does not fit a smaller one: one sentence naming the file.
    big = JointNet(replace(tiny_config(), front_dim=48))
    save_checkpoint(tmp_path / "big.pt", big, big.cfg)
    with pytest.raises(CheckpointError, match="big.pt"):
        init_from(JointNet(tiny_config()), tmp_path / "big.pt")


def test_note_masks_open_the_harmonics_of_the_notes_heard():
    """crnn-v3: a piano row's frame probability raises the piano mask at its key's harmonics
    (and only there), by the learned harmonic weight; templates peak at 1 at h * f0."""
    from stemscribe.model.notemask import WEIGHT_SCALE, NoteMaskPrior, harmonic_templates
    from stemscribe.notes import midi_to_hz

    T = harmonic_templates(16000, 1024, 4)
    assert T.shape == (4, 88, 513) and T.max() <= 1.0
    f0 = float(midi_to_hz(69))                                   # A4, key 48
    for h in range(4):
        assert int(T[h, 48].argmax()) == round((h + 1) * f0 / (16000 / 1024))
    assert T[:, 87].sum() > 0 and T[3, 87].sum() == 0             # C8's 4th harmonic is above Nyquist

    cmap = tiny_config().class_map
    prior = NoteMaskPrior(cmap, 16000, 1024, n_harmonics=4)
    with torch.no_grad():
        prior.harmonic_weights[0] = torch.tensor([2.0, 1.0, 0.0, 0.0]) / WEIGHT_SCALE
    logits = torch.full((1, 1, sum(prior.rows)), -30.0)
    logits[0, 0, 48] = 30.0                                       # class 0, A4 on
    out = prior(logits).detach()                                  # [1, 1, C, 513]
    assert out.shape == (1, 1, len(cmap.classes), 513)
    b1, b2 = round(f0 / 15.625), round(2 * f0 / 15.625)
    assert out[0, 0, 0, b1] > 1.5 and 0.5 < out[0, 0, 0, b2] < 1.01
    assert float(out[0, 0, 0, :b1 - 2].abs().max()) < 1e-6 and float(out[0, 0, 1:].abs().max()) < 1e-6


def test_pitch_branch_gives_the_same_features_chunk_by_chunk():
    """At inference the pitch branch runs a batch one item at a time (bounded memory); the
    features must equal the batched computation."""
    from stemscribe.model.pitch import HarmonicPitchFront

    torch.manual_seed(0)
    front = HarmonicPitchFront(16000, 1024, channels=4)
    x = torch.rand(3, 513, 50) * 4
    batched = front(x).detach()                     # grad enabled: the batched path
    with torch.no_grad():
        torch.testing.assert_close(front(x), batched, rtol=1e-5, atol=1e-5)


def test_train_set_overrides_are_typed_and_checked():
    from stemscribe.cli import UserError
    from stemscribe.cli.train import parse_overrides

    _, tc = load_preset("default")
    assert parse_overrides(["mi_snr_weight=0.5", "steps=10", "preset=x"], tc) == \
        {"mi_snr_weight": 0.5, "steps": 10, "preset": "x"}
    with pytest.raises(UserError, match="--set nope=1: expected KEY=VALUE"):
        parse_overrides(["nope=1"], tc)
    with pytest.raises(UserError, match="'ten' is not a valid int"):
        parse_overrides(["steps=ten"], tc)


def test_mask_refinement_reads_the_mixture_around_each_bin_only():
    """crnn-v4: the refinement of a bin's logits depends on the log mixture within its receptive
    field (7 + 2 * sum(dilations) bins, 5 + 2 * len(dilations) frames), nowhere else."""
    from stemscribe.model.maskrefine import MaskRefiner

    torch.manual_seed(0)
    r = MaskRefiner(3, channels=4, dilations=(1, 2)).eval()
    torch.nn.init.normal_(r.out.weight, std=0.1)
    m, x = torch.randn(1, 20, 3, 64), torch.randn(1, 20, 64)
    x2 = x.clone()
    x2[0, 10, 30] += 5.0
    with torch.no_grad():
        d = (r(m, x2) - r(m, x)).abs().sum(dim=2)[0]                   # [T, F]
    reach_f, reach_t = 2 + 1 + 2 + 1, 1 + 1 + 1 + 1                    # half-widths of the layers' kernels
    changed = d > 0
    assert changed[10, 30]
    assert not changed[:, : 30 - reach_f].any() and not changed[:, 30 + reach_f + 1:].any()
    assert not changed[: 10 - reach_t].any() and not changed[10 + reach_t + 1:].any()
    assert changed[10, 30 - reach_f] or changed[10, 30 + reach_f]       # the field is no smaller


def test_pack_and_train_from_pack_round_trip(tiny_slakh, tmp_path):
    """scripts/pack_training_data.py -> scripts/train_from_pack.py (the GPU-lease path) on CPU."""
    import json

    root = Path(__file__).resolve().parents[1]
    mcfg, tc = load_preset("tiny")
    train(mcfg, replace(tc, steps=2, val_every=2), [tiny_slakh], [], tmp_path / "run", tmp_path / "cache", quiet=True)
    cache = tmp_path / "cache" / f"v1-{mcfg.sample_rate}" / tiny_slakh.name
    pack = tmp_path / "pack"
    r = subprocess.run([sys.executable, str(root / "scripts/pack_training_data.py"), str(cache), "--out", str(pack),
                        "--megabytes", "1", "--excerpt-seconds", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    notes = json.loads((pack / "notes.json").read_text())
    assert len(notes) == 3
    for name, per_class in notes.items():
        assert per_class and all(0 < e and s < 2.0 for rows in per_class.values() for _, s, e, _ in rows)
        assert {p.stem for p in (pack / name).glob("*.ogg")} == set(per_class)
    r = subprocess.run([sys.executable, str(root / "scripts/train_from_pack.py"), "--pack", str(pack), "--init",
                        str(tmp_path / "run" / "last.pt"), "--out", str(tmp_path / "gpu"), "--minutes", "0.05",
                        "--batch-size", "2", "--workers", "0", "--device", "cpu", "--log-every", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in (tmp_path / "gpu" / "log.jsonl").read_text().splitlines()]
    assert lines and all(np.isfinite(l["total"]) for l in lines)
    for name in ("last.pt", "ema.pt", "mid.pt"):
        model, cfg, ck = load_model(tmp_path / "gpu" / name)
        assert cfg == mcfg and ck["train_config"]["preset"] == "tiny+pack" and ck["step"] >= 2
    # a pack refuses held-out splits
    r = subprocess.run([sys.executable, str(root / "scripts/pack_training_data.py"), str(tmp_path / "validation"),
                        "--out", str(tmp_path / "p2")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "never trained on" in r.stderr and not (tmp_path / "p2").exists()
