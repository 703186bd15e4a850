"""`stemscribe separate` and the Separator API with the tiny test model."""
import json

import numpy as np
import pytest
import soundfile as sf

from stemscribe import Separator
from stemscribe.audio import AudioError, load_audio
from stemscribe.cli import main

NAMES = ["piano", "guitar", "bass", "drums", "strings", "other"]


@pytest.fixture(scope="module")
def sep():
    return Separator("tiny-test", device="cpu")


def run(args, capsys=None):
    rc = main(["separate", "-q", "--model", "tiny-test", *map(str, args)])
    return rc


def test_layout_rate_length_channels_and_sum(tmp_path, example_wav):
    # Low thresholds: the untrained tiny model's transcription sits near its prior (~1%).
    assert run([example_wav, "-o", tmp_path, "--onset-threshold", "0.005", "--frame-threshold", "0.005"]) == 0
    d = tmp_path / "song"
    files = sorted(p.name for p in d.iterdir())
    assert files == sorted([f"{n}.wav" for n in NAMES] + [f"{n}.mid" for n in NAMES] +
                           ["transcription.mid", "activity.json"])
    x, sr = sf.read(example_wav, always_2d=True)
    total = 0
    for n in NAMES:
        y, sr2 = sf.read(d / f"{n}.wav", always_2d=True)
        assert sr2 == sr and y.shape == x.shape
        total = total + y
    np.testing.assert_allclose(total, x, atol=1e-5)
    act = json.loads((d / "activity.json").read_text())
    assert set(act["classes"]) == set(NAMES)
    assert act["classes"]["bass"]["frame_rate"] == 62.5
    import pretty_midi
    pm = pretty_midi.PrettyMIDI(str(d / "transcription.mid"))
    assert [i.name for i in pm.instruments] == NAMES
    assert [i.is_drum for i in pm.instruments] == [n == "drums" for n in NAMES]


@pytest.mark.parametrize("rate,channels", [(8000, 1), (22050, 2), (48000, 3), (96000, 1)])
def test_any_rate_and_channel_count(sep, rate, channels):
    x = (0.1 * np.random.default_rng(1).standard_normal((channels, int(0.7 * rate)))).astype(np.float32)
    r = sep.separate(x, rate)
    assert all(s.shape == x.shape for s in r.stems.values())
    np.testing.assert_allclose(sum(r.stems.values()), x, atol=1e-5)


def test_chunked_equals_unchunked(sep):
    x = (0.1 * np.random.default_rng(2).standard_normal((2, 44100 * 7))).astype(np.float32)
    whole = Separator("tiny-test", device="cpu", chunk_seconds=30.0, segment_seconds=30.0).separate(x, 44100)
    chunked = Separator("tiny-test", device="cpu", chunk_seconds=2.0, overlap_seconds=0.5,
                        segment_seconds=1.3).separate(x, 44100)
    for n in NAMES:
        # BiLSTM context differs at chunk edges, and masks are kept in float16: equal to 1e-3.
        np.testing.assert_allclose(chunked.stems[n], whole.stems[n], atol=1e-3)
    seg_only = Separator("tiny-test", device="cpu", chunk_seconds=30.0, segment_seconds=1.3).separate(x, 44100)
    for n in NAMES:  # segmenting the full-rate stage alone is exact
        np.testing.assert_allclose(seg_only.stems[n], whole.stems[n], atol=1e-6)


def test_silence_gives_silent_stems_and_valid_midi(tmp_path):
    p = tmp_path / "quiet.wav"
    sf.write(p, np.zeros((44100, 2), np.float32), 44100)
    assert run([p, "-o", tmp_path / "o"]) == 0
    for n in NAMES:
        assert np.abs(sf.read(tmp_path / "o" / "quiet" / f"{n}.wav")[0]).max() == 0


def test_options_stems_format_no_midi(tmp_path, example_wav):
    assert run([example_wav, "-o", tmp_path, "--stems", "bass,drums", "--format", "flac", "--no-midi",
                "--onset-threshold", "0.6", "--frame-threshold", "0.4", "--min-note-length", "0.1",
                "--no-gate", "--chunk-seconds", "1.0", "--device", "cpu", "--threads", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "song").iterdir()) == ["activity.json", "bass.flac", "drums.flac"]
    assert sf.info(tmp_path / "song" / "bass.flac").samplerate == 44100


def test_bad_options_are_one_clear_error(tmp_path, example_wav, capsys):
    assert run([example_wav, "-o", tmp_path, "--stems", "voice"]) == 1
    assert "unknown stem voice" in capsys.readouterr().err
    assert main(["separate", str(example_wav), "--model", str(tmp_path / "missing.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err
    assert run([example_wav, "--onset-threshold", "2"]) == 1


def test_overwrite_rule(tmp_path, example_wav, capsys):
    assert run([example_wav, "-o", tmp_path]) == 0
    keep = tmp_path / "song" / "my-notes.txt"
    keep.write_text("mine")
    before = sf.read(tmp_path / "song" / "bass.wav")[0]
    (tmp_path / "song" / "bass.wav").write_bytes(b"user data")
    assert run([example_wav, "-o", tmp_path]) == 1
    err = capsys.readouterr().err
    assert "already exist" in err and "pass --overwrite" in err
    assert (tmp_path / "song" / "bass.wav").read_bytes() == b"user data"
    assert run([example_wav, "-o", tmp_path, "--overwrite"]) == 0
    np.testing.assert_allclose(sf.read(tmp_path / "song" / "bass.wav")[0], before, atol=1e-6)
    assert keep.read_text() == "mine"


def _bad_inputs(d):
    sr = 44100
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage" * 10)
    sf.write(d / "full.flac", np.zeros((sr, 1), np.float32), sr)
    data = (d / "full.flac").read_bytes()
    (d / "truncated.flac").write_bytes(data[: len(data) // 3])
    (d / "full.flac").unlink()
    sf.write(d / "short.wav", np.zeros((int(0.05 * sr), 1), np.float32), sr)
    nan = np.zeros((sr, 1), np.float32); nan[100] = np.nan
    sf.write(d / "nan.wav", nan, sr, subtype="FLOAT")
    inf = np.zeros((sr, 1), np.float32); inf[5] = np.inf
    sf.write(d / "inf.wav", inf, sr, subtype="FLOAT")
    sf.write(d / "lowrate.wav", np.zeros((4000, 1), np.float32), 4000)
    return {"empty.wav": "empty", "corrupt.wav": "cannot be read", "truncated.flac": "corrupt or truncated", "short.wav": "shorter than",
            "nan.wav": "NaN or infinite", "inf.wav": "NaN or infinite", "lowrate.wav": "not supported"}


def test_each_bad_input_is_one_sentence_and_the_batch_goes_on(tmp_path, example_wav, capsys):
    bad = tmp_path / "bad"; bad.mkdir()
    expected = _bad_inputs(bad)
    emptydir = tmp_path / "nothing"; emptydir.mkdir()
    out = tmp_path / "out"
    rc = run([bad, emptydir, tmp_path / "missing.wav", example_wav, "-o", out])
    err = capsys.readouterr().err
    assert rc == 1
    assert (out / "song" / "bass.wav").is_file()  # the good file was still processed
    assert "nothing: the folder contains no audio files" in err
    assert "missing.wav: no such file or folder" in err
    for name, words in expected.items():
        line = [l for l in err.splitlines() if name in l]
        assert len(line) == 1, (name, err)
        assert words in line[0]
        assert not (out / name.split(".")[0]).exists()  # no partial output
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_formats_read(tmp_path):
    x = (0.1 * np.sin(np.arange(22050) * 0.05)).astype(np.float32)
    for ext, kw in (("ogg", {"subtype": "VORBIS"}), ("mp3", {"format": "MP3"}), ("flac", {})):
        p = tmp_path / f"a.{ext}"
        sf.write(p, x, 22050, **kw)
        audio, sr = load_audio(p)
        assert sr == 22050 and audio.shape[0] == 1 and abs(audio.shape[1] - 22050) < 2000


def test_other_formats_need_ffmpeg(tmp_path, monkeypatch):
    p = tmp_path / "a.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(100))
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(AudioError, match="needs ffmpeg; install it with 'apt-get install ffmpeg'"):
        load_audio(p)


def test_api_result_and_save(sep, tmp_path):
    x = (0.1 * np.random.default_rng(3).standard_normal((1, 16000))).astype(np.float32)
    r = sep.separate(x, 16000, stems=["piano", "drums"])
    assert set(r.stems) == set(r.notes) == set(r.activity) == {"piano", "drums"}
    assert r.rolls["drums"]["frame"].shape[1] == 5 and r.rolls["piano"]["onset"].shape[1] == 88
    written = r.save(tmp_path / "t", format="flac")
    assert {p.name for p in written} == {"piano.flac", "drums.flac", "piano.mid", "drums.mid",
                                         "transcription.mid", "activity.json"}
