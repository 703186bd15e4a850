"""`stemscribe evaluate`: the runner, the tables and the CLI on a tiny hand-made Slakh-layout folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stemscribe.cli import main

from conftest import make_track  # the shared tiny Slakh-layout writer (sines, clicks, exact MIDI)

FIVE = (("piano", 0, False), ("guitar", 25, False), ("bass", 33, False), ("drums", 0, True), ("strings", 48, False))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two 2 s tracks: all five classes; piano+guitar+bass with a silent guitar stem."""
    import soundfile as sf

    root = tmp_path / "data"
    make_track(root / "Track00001", seed=1, seconds=2.0, parts=FIVE)
    second = make_track(root / "Track00002", seed=2, seconds=2.0, parts=FIVE[:3])
    info = sf.info(str(second / "stems" / "S01.flac"))
    sf.write(second / "stems" / "S01.flac", np.zeros(info.frames, np.float32), info.samplerate)
    return root


def run_cli(*argv: str) -> int:
    return main(["evaluate", *argv])


def test_evaluate_end_to_end(dataset: Path, tmp_path: Path):
    out, md = tmp_path / "results", tmp_path / "docs" / "RESULTS.md"
    rc = run_cli("--data", str(dataset), "--model", "tiny-test", "--device", "cpu", "--sets", "2,4",
                 "--baselines", "mixture,irm,ibm", "--out", str(out), "--markdown", str(md), "-q")
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    # Resolved config: model config and evaluation settings.
    assert summary["model"] == "tiny-test" and summary["model_config"]["sample_rate"] == 16000
    assert summary["settings"]["eval_rate"] == 16000 and summary["settings"]["sets"] == [2, 4]
    c2, c4 = summary["counts"]["2"], summary["counts"]["4"]
    assert c2["tracks_evaluated"] == 2 and c2["silent_references"] == {"guitar": 1}
    assert c4["tracks_evaluated"] == 1 and c4["skip_reasons"] == {"no drums stem": 1}
    means = summary["means"]["2"]
    assert means["model"]["guitar"]["si_sdr"]["n"] == 1          # the silent guitar is left out
    assert means["model"]["piano"]["onset_f1"]["n"] == 2         # but its notes are still scored
    assert means["irm"]["piano"]["si_sdr"]["mean"] > 15          # oracle upper bound on sines
    assert means["irm"]["piano"]["si_sdr"]["mean"] > means["mixture"]["piano"]["si_sdr"]["mean"]
    drums = summary["means"]["4"]["model"]["drums"]
    assert "drum_kick_f1" in drums and drums["onset_f1"]["n"] == 1
    track = json.loads((out / "tracks" / "Track00002.json").read_text())
    assert track["sets"]["4"] == {"status": "skipped", "reason": "no drums stem"}
    assert track["sets"]["2"]["systems"]["model"]["guitar"]["si_sdr"] is None
    text = md.read_text()
    assert text == (out / "results.md").read_text()
    assert "| set | system | piano | guitar | bass | drums | mean of the set |" in text
    assert "| | Cerberus (paper) |" in text and "11.3 / .63 / –" in text
    assert "stemscribe evaluate --data" in text


@pytest.mark.slow
def test_evaluate_basic_pitch_and_report(dataset: Path, tmp_path: Path):
    from stemscribe.evaluate.baselines import basic_pitch_status

    if basic_pitch_status() != "ok":
        pytest.skip(f"basic-pitch: {basic_pitch_status()}")
    out = tmp_path / "results"
    rc = run_cli("--data", str(dataset), "--model", "tiny-test", "--device", "cpu", "--sets", "2", "--limit", "1",
                 "--baselines", "basic-pitch", "--seconds", "1.5", "--report", "--out", str(out), "-q")
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_tracks"] == 1 and summary["basic_pitch"] == "ok"
    bp = summary["means"]["2"]["basic-pitch (mixture)"]
    assert set(bp) == {"piano", "guitar", "all"} and bp["all"]["onset_f1"]["n"] == 1
    assert "basic-pitch (separated)" in summary["means"]["2"]
    assert (out / "reports" / "Track00001" / "report.html").is_file()
    assert "basic-pitch on the mixture" in (out / "results.md").read_text()


def test_not_slakh_layout(tmp_path: Path, capsys):
    (tmp_path / "songs").mkdir()
    (tmp_path / "songs" / "a.wav").write_bytes(b"")
    assert run_cli("--data", str(tmp_path / "songs"), "--model", "tiny-test", "--out", str(tmp_path / "r")) == 1
    err = capsys.readouterr().err
    assert "no Slakh-layout tracks" in err and str(tmp_path / "songs") in err
    assert run_cli("--data", str(tmp_path / "nowhere"), "--model", "tiny-test") == 1
    assert "no such folder" in capsys.readouterr().err


def test_missing_stem_file(dataset: Path, tmp_path: Path, capsys):
    (dataset / "Track00001" / "stems" / "S01.flac").unlink()
    assert run_cli("--data", str(dataset), "--model", "tiny-test", "--out", str(tmp_path / "r")) == 1
    err = capsys.readouterr().err
    assert "Track00001" in err and "S01" in err and "missing" in err
    assert not (tmp_path / "r").exists()                          # fails before any work


def test_bad_options(dataset: Path, capsys):
    assert run_cli("--data", str(dataset), "--model", "tiny-test", "--sets", "2,7") == 1
    assert "unknown instrument set" in capsys.readouterr().err
    assert run_cli("--data", str(dataset), "--model", "tiny-test", "--baselines", "demucs") == 1
    assert "unknown baseline" in capsys.readouterr().err
    assert run_cli("--data", str(dataset), "--model", "tiny-test", "--sets", "2", "--basic-pitch-sets", "5") == 1
    assert "must be among the evaluated sets" in capsys.readouterr().err
    assert run_cli("--data", str(dataset), "--model", "no-such-model") == 1
    assert "no-such-model" in capsys.readouterr().err


def test_crop_notes():
    from stemscribe.evaluate.runner import crop_notes
    from stemscribe.notes import Note

    notes = [Note(60, 0.5, 1.5), Note(62, 1.2, 2.0), Note(64, 0.0, 0.4)]
    assert crop_notes(notes, 1.0) == [Note(60, 0.5, 1.0), Note(64, 0.0, 0.4)]


def _ablation_checkpoint(path: Path, **weights) -> Path:
    """The tiny test network saved as if trained with the given loss weights (an ablation)."""
    from stemscribe.checkpoint import save_checkpoint
    from stemscribe.hub import load_model_info
    from stemscribe.model.config import TrainConfig

    m = load_model_info("tiny-test")
    save_checkpoint(path, m.model, m.config, TrainConfig(**weights), step=1)
    return path


def test_ablation_models_are_scored_on_their_own_tasks(dataset: Path, tmp_path: Path):
    """DC+TR separates by clustering (scored), has no activity; TR only has no separation."""
    dc_tr = _ablation_checkpoint(tmp_path / "dc_tr.pt", w_dc=1.0, w_mi=0.0, w_tr=1.0, w_act=0.0)
    tr = _ablation_checkpoint(tmp_path / "tr.pt", w_dc=0.0, w_mi=0.0, w_tr=1.0, w_act=0.0)
    for ckpt in (dc_tr, tr):
        assert run_cli("--data", str(dataset), "--model", str(ckpt), "--device", "cpu", "--sets", "2",
                       "--baselines", "none", "--out", str(tmp_path / ckpt.stem), "-q") == 0
    m = json.loads((tmp_path / "dc_tr" / "summary.json").read_text())["means"]["2"]["model"]
    assert m["piano"]["si_sdr"]["n"] == 2 and m["piano"]["onset_f1"]["n"] == 2
    assert m["piano"]["activity_f1"]["n"] == 0                 # activity head untrained: not scored
    m = json.loads((tmp_path / "tr" / "summary.json").read_text())["means"]["2"]["model"]
    assert m["piano"]["si_sdr"]["n"] == 0 and m["piano"]["onset_f1"]["n"] == 2


def test_dc_separate_recovers_sources_from_ideal_embeddings():
    """With embeddings that encode each bin's dominant source, clustering plus the oracle assignment
    gives back the ideal binary mask's estimates (in whatever order the clusters come out)."""
    import torch
    from types import SimpleNamespace

    from stemscribe.evaluate.dc import dc_separate
    from stemscribe.evaluate.metrics import si_sdr
    from stemscribe.model.config import ModelConfig
    from stemscribe.spectral import stft

    cfg = ModelConfig()
    sr, n = cfg.sample_rate, cfg.sample_rate * 2
    t = np.arange(n) / sr
    refs = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sign(np.sin(2 * np.pi * 1500 * t)) * (t > 0.5)])
    refs = refs.astype(np.float32)
    owner = torch.stack([stft(torch.from_numpy(r), cfg.n_fft, cfg.hop).abs() for r in refs]).argmax(0)  # [F, T]

    def fake_model(feats, want_embeddings=True):
        # The chunk's frames are found by matching the requested length from the start (one chunk here).
        e = torch.nn.functional.one_hot(owner.T, 3).float()[None]      # [1, T, F, 3]
        return SimpleNamespace(embeddings=e[:, :feats.shape[-1]])

    est = dc_separate(fake_model, cfg, refs.sum(0), refs[::-1].copy(), n_clusters=2)
    scores = si_sdr(refs[::-1], est)
    assert scores.min() > 10, scores


def test_tune_stores_per_class_thresholds_used_by_separator(dataset: Path, tmp_path: Path, capsys):
    import torch

    from stemscribe import Separator
    from stemscribe.notes import DecodeOptions

    ckpt = _ablation_checkpoint(tmp_path / "m.pt")                 # all heads trained
    tuned = tmp_path / "tuned.pt"
    assert main(["tune", str(ckpt), "--data", str(dataset), "--out", str(tuned), "-q"]) == 0
    assert "piano" in capsys.readouterr().out
    extra = torch.load(tuned, weights_only=True)["extra"]
    assert set(extra["decode"]) >= {"piano", "guitar", "drums"}
    on = extra["decode"]["piano"]["onset_threshold"]
    assert 0 < on < 1 and extra["decode_tuning"]["classes"]["piano"]["tracks"] == 2
    sep = Separator(str(tuned))
    assert sep.decode_options("piano").onset_threshold == on      # the model's tuned value
    # the activity gate was tuned for the named classes that play, and the Separator uses it
    assert set(extra["gate"]) <= {"piano", "guitar", "bass", "drums", "strings"} and "piano" in extra["gate"]
    low, high = sep.gate_bounds()
    i = sep.class_map.index("piano")
    assert (low[i], high[i]) == (extra["gate"]["piano"]["low"], extra["gate"]["piano"]["high"])
    assert extra["gate_tuning"]["classes"]["piano"]["tracks"] == 2
    # the mask exponents were tuned for the named classes, from the grid, and the Separator uses them
    from stemscribe.evaluate.tune import POWER_GRID

    assert set(extra["mask_power"]) == {"piano", "guitar", "bass", "drums", "strings"}
    assert all(p in POWER_GRID for p in extra["mask_power"].values())
    mp = extra["mask_power_tuning"]
    assert mp["si_sdr"] >= mp["si_sdr_default"]
    assert sep.mask_powers()[i] == extra["mask_power"]["piano"]
    assert sep.mask_powers()[sep.class_map.index("other")] == 1.0
    assert (Separator(str(tuned), mask_power=0.5).mask_powers() == 0.5).all()   # the user's value wins
    sep = Separator(str(tuned), decode=DecodeOptions(onset_threshold=0.42))
    assert sep.decode_options("piano").onset_threshold == 0.42    # the user's value wins
    assert Separator(str(ckpt)).decode_options("piano") == DecodeOptions(0.5, 0.3, 0.05)  # untuned: defaults


def test_activity_gate_bounds():
    from stemscribe.inference import activity_gate

    act = np.array([[0.0, 0.0], [0.1, 0.1], [0.3, 0.3], [0.9, 0.9]], np.float32)
    g = activity_gate(act, np.array([0.05, 0.0]), np.array([0.2, 0.0]))
    np.testing.assert_allclose(g[:, 0], [0.0, 1 / 3, 1.0, 1.0], atol=1e-6)
    assert (g[:, 1] == 1.0).all()                                   # high 0: not gated


def test_gate_tuning_drops_the_gate_of_a_deaf_activity_head(dataset: Path):
    """With activity forced to 0 the default gate silences every stem (SI-SDR -100 dB); the tuner
    must see that and choose no gate, and keep the default where it makes no difference."""
    from dataclasses import replace as dc_replace

    from stemscribe import Separator
    from stemscribe.evaluate.tune import GATE_GRID, analyse_tracks, tune_gates

    sep = Separator("tiny-test")
    tracks = analyse_tracks(sep, dataset)
    assert [t.name for t in tracks] == ["Track00001", "Track00002"]
    assert "guitar" not in tracks[1].references                    # its guitar stem is silent
    deaf = [dc_replace(t, analysis=dc_replace(t.analysis, activity=np.zeros_like(t.analysis.activity)))
            for t in tracks]
    gates = tune_gates(sep, deaf)
    assert gates["piano"].si_sdr_default == -100.0
    assert gates["piano"].high == 0.0 and gates["piano"].si_sdr > -100.0
    assert gates["guitar"].tracks == 1 and gates["piano"].tracks == 2
    awake = [dc_replace(t, analysis=dc_replace(t.analysis, activity=np.ones_like(t.analysis.activity)))
             for t in tracks]
    # activity 1 everywhere: every gate is 1, no gain anywhere, the default is kept
    assert all((g.low, g.high) == GATE_GRID[0] for g in tune_gates(sep, awake).values())


def test_tune_of_a_mask_only_model_stores_mask_exponents_only(dataset: Path, tmp_path: Path, capsys):
    """MI only (the ablation): no transcription head to tune, but its masks are tempered like the
    joint model's, so the ablation compares like with like; DC only has nothing to tune."""
    import torch

    mi = _ablation_checkpoint(tmp_path / "mi.pt", w_dc=0.0, w_mi=1.0, w_tr=0.0, w_act=0.0)
    assert main(["tune", str(mi), "--data", str(dataset), "-q"]) == 0
    extra = torch.load(mi, weights_only=True)["extra"]
    assert "mask_power" in extra and "decode" not in extra and "gate" not in extra
    dc = _ablation_checkpoint(tmp_path / "dc.pt", w_dc=1.0, w_mi=0.0, w_tr=0.0, w_act=0.0)
    assert main(["tune", str(dc), "--data", str(dataset), "-q"]) != 0
    assert "dc.pt" in capsys.readouterr().err


def test_mask_power_tuning_finds_the_exponent_that_undoes_a_distortion(dataset: Path):
    """Give the tuner masks that are the tiny model's raised to the 4th power (renormalised): the
    exponent 0.25 restores them exactly, so the tuner must score it at least as well as any other
    exponent; and the mean SI-SDR it reports for the exponents 1 must be that of the distorted masks."""
    from dataclasses import replace as dc_replace

    from stemscribe import Separator
    from stemscribe.evaluate.tune import _mean_over_classes, _stem_si_sdrs, analyse_tracks, tune_mask_power
    from stemscribe.inference import temper_masks

    sep = Separator("tiny-test")
    tracks = analyse_tracks(sep, dataset)
    hard = [dc_replace(t, analysis=dc_replace(t.analysis, masks=temper_masks(t.analysis.masks.float(), 4.0).half()))
            for t in tracks]
    res = tune_mask_power(sep, hard, grid=(1.0, 0.25))
    low, high = sep.gate_bounds()
    original = _mean_over_classes(_stem_si_sdrs(sep, tracks, low, high, 1.0))
    distorted = _mean_over_classes(_stem_si_sdrs(sep, hard, low, high, 1.0))
    assert abs(res.si_sdr_default - distorted) < 1e-3
    assert res.si_sdr >= max(distorted, original) - 0.05         # float16 masks: restored up to rounding
    if original > distorted + 0.1:
        assert set(res.powers.values()) == {0.25}
    # A second pass (as after the gates) starts from given exponents, skips the all-classes step
    # and never ends below where it started.
    said: list[str] = []
    again = tune_mask_power(sep, hard, grid=(1.0, 0.25), progress=said.append,
                            start={c: 1.0 for c in sep.class_map.names})
    assert not any("all classes" in m for m in said) and len(said) == 5
    assert again.si_sdr >= again.si_sdr_default - 1e-6


def test_tune_pools_several_validation_folders(dataset: Path, tmp_path: Path):
    import shutil

    import torch

    second = tmp_path / "second"
    shutil.copytree(dataset, second)
    ckpt = _ablation_checkpoint(tmp_path / "m.pt")
    assert main(["tune", str(ckpt), "--data", str(dataset), str(second), "--no-gate-tuning",
                 "--no-mask-power-tuning", "-q"]) == 0
    tuning = torch.load(ckpt, weights_only=True)["extra"]["decode_tuning"]
    assert tuning["classes"]["piano"]["tracks"] == 4 and tuning["data"] == f"{dataset} {second}"


def test_tune_refuses_the_test_split(dataset: Path, tmp_path: Path, capsys):
    meta = dataset / "Track00001" / "metadata.yaml"
    meta.write_text(meta.read_text() + "stemscribe: {split: test}\n")
    ckpt = _ablation_checkpoint(tmp_path / "m.pt")
    assert main(["tune", str(ckpt), "--data", str(dataset), "-q"]) == 1
    err = capsys.readouterr().err
    assert "test split" in err and "Track00001" in err
    assert "decode" not in __import__("torch").load(ckpt, weights_only=True)["extra"]   # untouched


def test_ablation_table(tmp_path: Path):
    from stemscribe.evaluate.ablation import table

    def run(name, sdr, f1, step):
        d = tmp_path / name / "eval"
        d.mkdir(parents=True)
        per = {c: {"si_sdr": {"mean": sdr, "n": 1 if sdr is not None else 0},
                   "onset_f1": {"mean": f1, "n": 1 if f1 is not None else 0}}
               for c in ("piano", "guitar", "bass", "drums", "strings")}
        (d / "summary.json").write_text(json.dumps({"means": {"5": {"model": per}}}))
        (tmp_path / name / "log.jsonl").write_text(json.dumps({"step": step, "best": True}) + "\n")

    run("default", 2.0, 0.5, 600)
    run("mi", 1.0, None, 600)
    run("tr", None, 0.4, 500)
    text = table(tmp_path, ["default", "mi", "tr", "dc"])
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "**2.0**" in rows["joint (default: DC+MI+TR+ACT)"] and "**.50**" in rows["joint (default: DC+MI+TR+ACT)"]
    assert rows["MI only"].count("–") == 6 and " 1.0 " in rows["MI only"]
    assert rows["TR only"].split(" | ")[1] == "500" and "**" not in rows["TR only"]
    assert "Not evaluated: dc." in text


def test_ablation_seeds_table(tmp_path: Path):
    from stemscribe.evaluate.ablation import main, seeds_table

    def run(root, name, sdr, f1):
        d = tmp_path / root / name / "eval"
        d.mkdir(parents=True)
        per = {c: {"si_sdr": {"mean": sdr}, "onset_f1": {"mean": f1}}
               for c in ("piano", "guitar", "bass", "drums", "strings")}
        (d / "summary.json").write_text(json.dumps({"means": {"5": {"model": per}}}))

    run("s0", "default", -5.0, 0.10)
    run("s1", "default", -6.0, 0.20)
    run("s0", "mi", -5.5, None)
    text = seeds_table([tmp_path / "s0", tmp_path / "s1"], ["default", "mi"])
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "-5.50 ± 0.71 (-5.00, -6.00)" in rows["joint (default: DC+MI+TR+ACT)"]
    assert "0.150 ± 0.071 (0.100, 0.200)" in rows["joint (default: DC+MI+TR+ACT)"]
    assert rows["MI only"].split(" | ")[1] == "1" and "-5.50 (-5.50)" in rows["MI only"]
    assert main(["--seeds", f"{tmp_path / 's0'},{tmp_path / 's1'}", "default"]) == 0
    assert main(["--seeds"]) == 2


def test_val_means_paired_differences_of_track_class_means(tmp_path):
    """scripts/val_means.py --paired: per-track differences of the class means, their mean,
    standard error and the count of improved tracks, over the tracks both folders scored."""
    import importlib.util
    import math

    path = Path(__file__).resolve().parents[1] / "scripts/val_means.py"
    spec = importlib.util.spec_from_file_location("val_means", path)
    vm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vm)

    def write(folder, per_track):
        (folder / "tracks").mkdir(parents=True)
        for name, (sdr, onset) in per_track.items():
            model = {c: {"si_sdr": sdr, "onset_f1": onset} for c in ("piano", "guitar")}
            model["drums"] = {"si_sdr": sdr + 3.0, "onset_f1": None}  # drums' SI-SDR counts, a missing F1 does not
            (folder / "tracks" / f"{name}.json").write_text(json.dumps({"sets": {"5": {"systems": {"model": model}}}}))

    write(tmp_path / "a", {"T1": (0.0, 0.5), "T2": (1.0, 0.6), "T3": (2.0, 0.7), "T9": (5.0, 0.1)})
    write(tmp_path / "b", {"T1": (0.3, 0.5), "T2": (0.7, 0.7), "T3": (2.6, 0.8)})
    r = vm.paired(tmp_path / "a", tmp_path / "b")
    d = [0.3, -0.3, 0.6]  # every class moved by the same amount, so the class mean did too
    mean = sum(d) / 3
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / 2 / 3)
    assert r["si_sdr"][0] == pytest.approx(mean) and r["si_sdr"][1] == pytest.approx(se)
    assert r["si_sdr"][2:] == (2, 3)
    assert r["onset_f1"][0] == pytest.approx(0.2 / 3) and r["onset_f1"][2:] == (2, 3)
