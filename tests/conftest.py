"""Shared fixtures: a tiny hand-made Slakh-layout dataset (sines and clicks, exact MIDI)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SR = 16000


def pytest_configure(config):
    # Tests use tiny models: one thread is as fast, and avoids OpenMP spin-waiting when the
    # machine is shared with other jobs.
    import torch

    torch.set_num_threads(1)


def _tone(notes, n, sr, harmonics=3, decay=3.0):
    x = np.zeros(n, np.float32)
    for pitch, s, e, v in notes:
        f = 440 * 2 ** ((pitch - 69) / 12)
        a, b = int(s * sr), min(n, int(e * sr))
        t = np.arange(b - a) / sr
        env = np.exp(-decay * t) * (v / 127)
        x[a:b] += sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, harmonics + 1)) * env * 0.2
    return x


def _clicks(notes, n, sr, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros(n, np.float32)
    for _, s, _, v in notes:
        a = int(s * sr)
        m = min(n - a, int(0.08 * sr))
        x[a:a + m] += rng.standard_normal(m) * np.exp(-np.arange(m) / (0.01 * sr)) * (v / 127) * 0.3
    return x


def make_track(folder: Path, seed: int, seconds: float = 3.0, sr: int = SR,
               parts=(("piano", 0, False), ("bass", 33, False), ("drums", 0, True))) -> Path:
    """Write one Slakh-layout track with the given (name, program, is_drum) parts."""
    import pretty_midi
    import soundfile as sf
    import yaml

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    (folder / "MIDI").mkdir(exist_ok=True)
    meta = {"UUID": f"test{seed}", "audio_dir": "stems", "midi_dir": "MIDI", "stems": {}}
    mix = np.zeros(n, np.float32)
    all_pm = pretty_midi.PrettyMIDI()
    for i, (name, program, is_drum) in enumerate(parts):
        key = f"S{i:02d}"
        notes, t = [], 0.1
        while t < seconds - 0.4:
            dur = float(rng.choice([0.25, 0.5]))
            pitch = int(rng.choice([36, 38, 42])) if is_drum else int(rng.integers(40, 72) - (24 if program >= 32 else 0))
            notes.append((pitch, t, t + dur, int(rng.integers(60, 110))))
            t += dur
        audio = _clicks(notes, n, sr, seed + i) if is_drum else _tone(notes, n, sr)
        mix += audio
        sf.write(folder / "stems" / f"{key}.flac", audio, sr, subtype="PCM_24")
        pm = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
        inst.notes = [pretty_midi.Note(v, p, s, e) for p, s, e, v in notes]
        pm.instruments.append(inst)
        pm.write(str(folder / "MIDI" / f"{key}.mid"))
        all_pm.instruments.append(inst)
        meta["stems"][key] = {"inst_class": name.title(), "program_num": program, "is_drum": is_drum,
                              "midi_program_name": name, "plugin_name": "test-sines", "audio_rendered": True}
    sf.write(folder / "mix.flac", mix, sr, subtype="PCM_24")
    all_pm.write(str(folder / "all_src.mid"))
    (folder / "metadata.yaml").write_text(yaml.safe_dump(meta))
    return folder


@pytest.fixture(scope="session")
def tiny_slakh(tmp_path_factory) -> Path:
    """A folder with three short tracks (piano, bass, drums)."""
    root = tmp_path_factory.mktemp("slakh")
    for k in range(3):
        make_track(root / f"Track{k:05d}", seed=k)
    return root


@pytest.fixture(scope="session")
def example_wav(tmp_path_factory) -> Path:
    """A 2.5 s stereo 44.1 kHz file."""
    import soundfile as sf

    p = tmp_path_factory.mktemp("audio") / "song.wav"
    sr = 44100
    t = np.arange(int(2.5 * sr)) / sr
    x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(p, np.stack([x, 0.5 * x]).T.astype(np.float32), sr, subtype="FLOAT")
    return p
