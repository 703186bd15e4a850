"""`stemscribe evaluate`: the runner, the tables and the CLI on a tiny hand-made Slakh-layout folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stemscribe.cli import main

SR = 16000
# (stem key, GM program, is_drum, notes as (pitch, start s, end s)).
PARTS = {
    "piano": ("S00", 0, False, [(60, 0.1, 0.6), (64, 0.7, 1.2), (67, 1.3, 1.9)]),
    "guitar": ("S01", 25, False, [(55, 0.2, 0.9), (59, 1.0, 1.8)]),
    "bass": ("S02", 33, False, [(36, 0.0, 1.0), (43, 1.0, 1.95)]),
    "drums": ("S03", 0, True, [(36, 0.0, 0.1), (38, 0.5, 0.6), (42, 0.25, 0.3), (36, 1.0, 1.1), (38, 1.5, 1.6)]),
    "strings": ("S04", 48, False, [(72, 0.1, 1.9)]),
}


def _render(notes, is_drum: bool, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = np.zeros(n)
    for pitch, a, b in notes:
        on = (t >= a) & (t < (a + 0.08 if is_drum else b))
        if is_drum:
            x[on] += 0.3 * rng.standard_normal(on.sum()) * np.exp(-(t[on] - a) * 40)
        else:
            x[on] += 0.2 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t[on])
    return x.astype(np.float32)


def make_track(root: Path, name: str, classes=tuple(PARTS), seconds: float = 2.0, silent=()) -> Path:
    """A Slakh-layout track folder with one sine/noise stem and one MIDI file per class.

    Classes in ``silent`` get an all-zero stem (their MIDI keeps its notes).
    """
    import pretty_midi
    import soundfile as sf
    import yaml

    d = root / name
    (d / "stems").mkdir(parents=True)
    (d / "MIDI").mkdir()
    n = int(seconds * SR)
    meta, mix = {}, np.zeros(n, np.float32)
    for i, c in enumerate(classes):
        key, program, is_drum, notes = PARTS[c]
        audio = np.zeros(n, np.float32) if c in silent else _render(notes, is_drum, n, i)
        mix += audio
        sf.write(d / "stems" / f"{key}.flac", audio, SR)
        pm = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
        inst.notes = [pretty_midi.Note(velocity=90, pitch=p, start=a, end=b) for p, a, b in notes]
        pm.instruments.append(inst)
        pm.write(str(d / "MIDI" / f"{key}.mid"))
        meta[key] = {"inst_class": c, "program_num": program, "is_drum": is_drum,
                     "midi_program_name": c, "plugin_name": "test.sf2", "audio_rendered": True}
    sf.write(d / "mix.flac", mix, SR)
    (d / "metadata.yaml").write_text(yaml.safe_dump({"stems": meta}))
    return d


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_track(root, "Track00001")
    make_track(root, "Track00002", classes=("piano", "guitar", "bass"), silent=("guitar",))
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
