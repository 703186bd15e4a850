"""The training-data synthesiser: layout, determinism, mix = sum of stems, reader round trip,
resume, split rules, MIDI-folder source, bad input, and onset alignment on isolated notes.

Tracks are short (5 s of music at 16 kHz) so the whole file runs in well under a minute.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from stemscribe.cli import main
from stemscribe.data.slakh import find_tracks

SR = 16000
BASE = ["--track-seconds", "5", "--sample-rate", str(SR), "--quiet"]


def synth(out: Path, *extra: str) -> int:
    return main(["synth", "--out", str(out), *BASE, *extra])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "train"
    assert synth(out, "--tracks", "3", "--seed", "7", "--source", "procedural") == 0
    return out


def test_layout_and_metadata(dataset):
    names = sorted(p.name for p in dataset.iterdir())
    assert names == ["Track00001", "Track00002", "Track00003"]
    for track in dataset.iterdir():
        meta = yaml.safe_load((track / "metadata.yaml").read_text())
        assert meta["audio_dir"] == "stems" and meta["midi_dir"] == "MIDI" and meta["UUID"]
        assert (track / "mix.flac").is_file() and (track / "all_src.mid").is_file()
        for key, row in meta["stems"].items():
            assert set(row) >= {"inst_class", "program_num", "is_drum", "midi_program_name", "plugin_name",
                                "audio_rendered"}
            assert (track / "stems" / f"{key}.flac").is_file() and (track / "MIDI" / f"{key}.mid").is_file()
            assert row["plugin_name"] in ("FluidR3_GM.sf2", "TimGM6mb.sf2")
            assert 0 <= row["program_num"] <= 127
        info = sf.info(str(track / "mix.flac"))
        assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"


def test_reader_loads_generated_tracks(dataset):
    import pretty_midi

    tracks = find_tracks(dataset)
    assert len(tracks) == 3
    seen = set()
    for t in tracks:
        meta = yaml.safe_load((t.path / "metadata.yaml").read_text())
        expected = {row["stemscribe_class"] for row in meta["stems"].values()}
        audio, notes = t.class_audio(sample_rate=SR), t.class_notes()
        assert set(audio) == expected and set(notes) == expected
        assert all(len(notes[c]) > 0 for c in expected)
        assert len({len(a) for a in audio.values()}) == 1
        assert len(pretty_midi.PrettyMIDI(str(t.path / "all_src.mid")).instruments) == len(meta["stems"])
        seen |= expected
    assert {"drums", "bass"} <= seen


def test_mix_is_exactly_the_sum_of_the_stems(dataset):
    for track in dataset.iterdir():
        mix, _ = sf.read(str(track / "mix.flac"), dtype="int16")
        stems = [sf.read(str(p), dtype="int16")[0].astype(np.int32) for p in sorted((track / "stems").glob("*.flac"))]
        assert np.array_equal(mix.astype(np.int32), np.sum(stems, axis=0))
        assert np.abs(mix).max() > 1000  # not silent


def test_same_seed_same_bytes_with_a_worker_pool(dataset, tmp_path):
    again = tmp_path / "again"
    assert synth(again, "--tracks", "3", "--seed", "7", "--source", "procedural", "--workers", "2") == 0
    assert _files(again) == _files(dataset)


def test_other_seed_and_validation_differ(dataset, tmp_path):
    assert synth(tmp_path / "s8", "--tracks", "1", "--seed", "8", "--source", "procedural") == 0
    assert synth(tmp_path / "val", "--tracks", "1", "--seed", "7", "--source", "procedural",
                 "--split", "validation") == 0
    first = (dataset / "Track00001" / "all_src.mid").read_bytes()
    assert (tmp_path / "s8" / "Track00001" / "all_src.mid").read_bytes() != first
    assert (tmp_path / "val" / "Track00001" / "all_src.mid").read_bytes() != first


def test_resume_keeps_finished_tracks_and_redoes_partial_ones(dataset, tmp_path):
    out = tmp_path / "resume"
    shutil.copytree(dataset, out)
    kept = (out / "Track00001" / "mix.flac").stat().st_mtime_ns
    # An interrupted run: track 2 half-written in its partial folder, track 3 never finished.
    shutil.rmtree(out / "Track00003")
    (out / "Track00002").rename(out / ".Track00002.partial")
    (out / ".Track00002.partial" / "metadata.yaml").unlink()
    assert synth(out, "--tracks", "3", "--seed", "7", "--source", "procedural") == 0
    assert (out / "Track00001" / "mix.flac").stat().st_mtime_ns == kept
    assert not list(out.glob(".*.partial"))
    assert _files(out) == _files(dataset)


def test_hours_renders_until_the_total_length(tmp_path):
    out = tmp_path / "hours"
    assert synth(out, "--hours", str(12 / 3600), "--seed", "1", "--source", "procedural", "--no-effects") == 0
    seconds = [sf.info(str(p)).duration for p in sorted(out.glob("Track*/mix.flac"))]
    assert sum(seconds) >= 12 and sum(seconds[:-1]) < 12


def test_pcm24_mix_is_the_sum_too(tmp_path):
    out = tmp_path / "p24"
    assert synth(out, "--tracks", "1", "--seed", "2", "--source", "procedural", "--subtype", "FLOAT",
                 "--classes", "bass,drums") == 0
    track = out / "Track00001"
    assert sf.info(str(track / "mix.flac")).subtype == "PCM_24"
    mix = sf.read(str(track / "mix.flac"), dtype="int32")[0].astype(np.int64)
    stems = [sf.read(str(p), dtype="int32")[0].astype(np.int64) for p in (track / "stems").glob("*.flac")]
    assert np.array_equal(mix, np.sum(stems, axis=0))
    assert {c for c in find_tracks(out)[0].class_stems()} == {"bass", "drums"}


def test_alignment_of_isolated_notes_every_class():
    from stemscribe.synth.benchmark import alignment_check

    r = alignment_check("FluidR3_GM", sample_rate=SR, programs_per_class=1, effects=True)
    assert set(r["per_class"]) == {"piano", "guitar", "bass", "drums", "strings", "other"}
    assert all(v["n"] > 0 for v in r["per_class"].values())
    assert r["max_ms"] <= 10.0, r


def test_split_rules_for_pieces_and_soundfonts():
    from stemscribe.soundfonts import SoundfontError, soundfonts_for_split
    from stemscribe.synth.corpus import CorpusError, check_pieces, corpus_pool, is_reserved, is_test_piece

    train, val, test = corpus_pool("train"), corpus_pool("validation"), corpus_pool("test")
    assert train and val and test
    assert not any(is_reserved(p) for p in train + val)
    assert not set(train) & set(val)
    assert all(is_test_piece(p) for p in test)
    assert any(p.startswith("bach/") for p in test) and any(p.startswith("beethoven/") for p in test)
    assert any(p.startswith("haydn/") for p in test) and any(p.startswith("mozart/k458") for p in test)
    assert "mozart/k545/movement1_exposition.mxl" not in test
    with pytest.raises(CorpusError):
        check_pieces("train", ["bach/bwv66.6.mxl"])
    with pytest.raises(CorpusError):
        check_pieces("test", ["palestrina/agnus_01.krn"])
    assert {p.stem for p in soundfonts_for_split("train")} == {"FluidR3_GM", "TimGM6mb"}
    assert {p.stem for p in soundfonts_for_split("test")} == {"MuseScore_General"}
    with pytest.raises(SoundfontError):
        soundfonts_for_split("train", [soundfonts_for_split("test")[0]])
    # A validation set in a soundfont the training defaults never use: the user's font alone.
    assert [p.stem for p in soundfonts_for_split("validation", ["sf_GMbank"], defaults=False)] == ["sf_GMbank"]
    with pytest.raises(SoundfontError):
        soundfonts_for_split("validation", [], defaults=False)
    with pytest.raises(SoundfontError):
        soundfonts_for_split("test", ["sf_GMbank"], defaults=False)


def test_ensemble_arranges_validation_pieces_for_all_five_parts(tmp_path):
    import yaml

    from stemscribe.synth.corpus import is_test_piece

    assert synth(tmp_path / "v", "--split", "validation", "--tracks", "2", "--source", "corpus", "--ensemble") == 0
    for meta in sorted((tmp_path / "v").glob("Track*/metadata.yaml")):
        d = yaml.safe_load(meta.read_text())
        assert {s["stemscribe_class"] for s in d["stems"].values()} == {"piano", "guitar", "bass", "drums", "strings"}
        piece = d["stemscribe"]["source"].split(":", 1)[1]
        assert not is_test_piece(piece)


def test_only_soundfonts_renders_with_the_named_font_alone(tmp_path):
    import yaml

    assert synth(tmp_path / "v", "--split", "validation", "--tracks", "2", "--soundfont", "sf_GMbank",
                 "--only-soundfonts") == 0
    fonts = set()
    for meta in (tmp_path / "v").glob("Track*/metadata.yaml"):
        stems = yaml.safe_load(meta.read_text())["stems"].values()
        fonts |= {s["plugin_name"] for s in stems if s.get("audio_rendered", True)}
    assert fonts == {"sf_GMbank.sf2"}


def test_test_split_is_five_instruments_from_reserved_pieces_with_musescore(tmp_path):
    out = tmp_path / "test"
    assert main(["synth", "--out", str(out), "--split", "test", "--tracks", "1", "--seed", "0",
                 "--track-seconds", "4", "--sample-rate", str(SR), "--quiet", "--no-effects"]) == 0
    meta = yaml.safe_load((out / "Track00001" / "metadata.yaml").read_text())
    from stemscribe.synth.corpus import is_test_piece

    assert is_test_piece(meta["stemscribe"]["source"].split(":", 1)[1])
    assert {r["plugin_name"] for r in meta["stems"].values()} == {"MuseScore_General.sf3"}
    assert set(find_tracks(out)[0].class_notes()) == {"piano", "guitar", "bass", "drums", "strings"}


def _write_midi(path: Path) -> None:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    for program, is_drum, pitches in ((0, False, (60, 64, 67)), (33, False, (36, 43)), (0, True, (36, 38, 42))):
        inst = pretty_midi.Instrument(program, is_drum=is_drum)
        for i in range(16):
            p = pitches[i % len(pitches)]
            inst.notes.append(pretty_midi.Note(90, p, 0.5 * i, 0.5 * i + 0.4))
        pm.instruments.append(inst)
    pm.write(str(path))


def test_midi_folder_source_skips_unreadable_files_with_a_warning(tmp_path, capsys):
    folder = tmp_path / "midi"
    folder.mkdir()
    _write_midi(folder / "band.mid")
    (folder / "broken.mid").write_bytes(b"not a midi file")
    out = tmp_path / "out"
    assert synth(out, "--tracks", "2", "--seed", "0", "--source", "midi", "--midi-dir", str(folder)) == 0
    for t in find_tracks(out):
        assert set(t.class_notes()) == {"piano", "bass", "drums"}
    err = capsys.readouterr().err
    if "broken.mid" in err:  # drawn at least once: the warning names the file
        assert "warning" in err and "cannot be read as a MIDI file" in err


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stemscribe synth: error: "), err
    return err[0]


def test_unreadable_midi_file_is_one_clear_error(tmp_path, capsys):
    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    assert synth(tmp_path / "out", "--tracks", "1", "--source", "midi", "--midi-dir", str(folder)) == 1
    assert "broken.mid" in _one_error(capsys)


def test_empty_midi_folder_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert synth(tmp_path / "out", "--tracks", "1", "--source", "midi", "--midi-dir", str(tmp_path / "empty")) == 1
    assert "no MIDI files" in _one_error(capsys)


def test_missing_soundfont_names_the_package(tmp_path, capsys, monkeypatch):
    from stemscribe import soundfonts

    monkeypatch.setattr(soundfonts, "SEARCH_DIRS", ())
    monkeypatch.delenv("STEMSCRIBE_SOUNDFONT_DIR", raising=False)
    assert synth(tmp_path / "out", "--tracks", "1") == 1
    assert "apt-get install fluid-soundfont-gm" in _one_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, words", [
    (["--split", "test", "--soundfont", "/usr/share/sounds/sf2/FluidR3_GM.sf2"], "only with MuseScore_General"),
    (["--split", "test", "--source", "procedural"], "reserved corpus pieces"),
    (["--soundfont", "/no/such/font.sf2"], "/no/such/font.sf2"),
    (["--only-soundfonts"], "needs at least one --soundfont"),
    (["--ensemble"], "use it with --source corpus"),
    (["--split", "test", "--only-soundfonts", "--soundfont", "sf_GMbank"], "only with MuseScore_General"),
    (["--classes", "piano,kazoo"], "kazoo"),
])
def test_bad_requests_are_one_clear_error(tmp_path, capsys, args, words):
    assert synth(tmp_path / "out", "--tracks", "1", *args) == 1
    assert words in _one_error(capsys)


def test_unloadable_user_soundfont_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"not a soundfont")
    assert synth(tmp_path / "out", "--tracks", "1", "--soundfont", str(bad)) == 1
    assert "broken.sf2: FluidSynth cannot load this soundfont" in _one_error(capsys)
