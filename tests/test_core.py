"""Class map, notes/rolls, activity labels and the Slakh reader."""
import numpy as np
import pytest

from stemscribe.classes import DEFAULT_CLASSES, ClassMap, InstrumentClass
from stemscribe.data.slakh import DataError, find_tracks
from stemscribe.labels import audible_frames
from stemscribe.notes import DecodeOptions, Note, notes_to_rolls, rolls_to_notes


def test_class_map_follows_design_table():
    c = DEFAULT_CLASSES
    assert c.names == ("piano", "guitar", "bass", "drums", "strings", "other")
    assert [c.class_of(p) for p in (0, 7, 24, 31, 32, 39, 40, 45, 48, 51)] == \
        ["piano"] * 2 + ["guitar"] * 2 + ["bass"] * 2 + ["strings"] * 4
    assert c.class_of(46) == "other" and c.class_of(56) == "other" and c.class_of(19) == "other"
    assert c.class_of(0, is_drum=True) == "drums"
    assert ClassMap.from_dict(c.to_dict()) == c


def test_class_map_rejects_overlaps():
    with pytest.raises(ValueError, match="claimed by both"):
        ClassMap((InstrumentClass("a", (1, 2)), InstrumentClass("b", (2,))))


def test_rolls_round_trip_pitched_and_drums():
    fr = 62.5
    notes = [Note(60, 0.5, 1.0, 100), Note(64, 0.52, 0.8, 64), Note(21, 1.2, 1.6, 30)]
    f, o, v = notes_to_rolls(notes, 120, fr, is_drum=False)
    back = rolls_to_notes(f, o, fr, False, v, DecodeOptions(0.5, 0.5, 0.05))
    assert [n.pitch for n in back] == [60, 64, 21]
    for a, b in zip(notes, back):
        assert abs(a.start - b.start) <= 1 / fr and abs(a.end - b.end) <= 1 / fr
        assert abs(a.velocity - b.velocity) <= 1
    drums = [Note(36, 0.1, 0.2, 90), Note(42, 0.3, 0.31, 80), Note(81, 0.5, 0.6, 80)]  # 81: not transcribed
    f, o, v = notes_to_rolls(drums, 60, fr, is_drum=True)
    assert f.shape == (60, 5) and o.sum() == 2
    back = rolls_to_notes(f, o, fr, True, v)
    assert [n.pitch for n in back] == [36, 42]


def test_rolls_to_notes_splits_repeated_notes():
    fr = 100.0
    f = np.zeros((100, 88), np.float32); o = np.zeros_like(f)
    f[10:60, 39] = 1; o[10, 39] = 1; o[30, 39] = 1
    notes = rolls_to_notes(f, o, fr, False)
    assert [(round(n.start, 2), round(n.end, 2)) for n in notes] == [(0.1, 0.3), (0.3, 0.6)]


def test_audible_frames_marks_silence_inactive():
    hop = 256
    stems = np.zeros((2, 16000), np.float32)
    stems[0, :8000] = 0.1 * np.sin(np.arange(8000) * 0.1)
    stems[1] = 0.1 * np.sin(np.arange(16000) * 0.05)
    a = audible_frames(stems, stems.sum(0), hop)
    assert a[1].all()
    assert a[0, :25].all() and not a[0, 40:].any()


def test_reader_loads_tracks(tiny_slakh):
    tracks = find_tracks(tiny_slakh)
    assert len(tracks) == 3
    t = tracks[0]
    assert set(t.class_stems()) == {"piano", "bass", "drums"}
    audio = t.class_audio(sample_rate=8000)
    assert {len(v) for v in audio.values()} == {24000}
    notes = t.class_notes()
    assert all(len(v) > 0 for v in notes.values())
    mix = t.load_mix()
    np.testing.assert_allclose(sum(t.class_audio().values()), mix, atol=1e-5)


def test_cached_stems_read_slices_and_hold_no_open_files(tiny_slakh, tmp_path):
    import os

    from stemscribe.data.dataset import CachedStem, load_dataset

    fds = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    before = fds()
    tracks = load_dataset([tiny_slakh], tmp_path / "cache", DEFAULT_CLASSES, 8000, progress=False)
    assert len(tracks) == 3 and fds() == before     # memory maps would hold one per stem
    stem = tracks[0].audio["piano"]
    assert isinstance(stem, CachedStem)
    ref = np.load(stem.path, mmap_mode="r")
    for a, b in [(0, 10), (100, 5000), (23990, 30000), (5, 5), (-10, None)]:
        np.testing.assert_array_equal(stem[a:b], ref[a:b])
    with pytest.raises(TypeError):
        stem[::2]
    np.save(tmp_path / "m.npy", np.zeros((2, 3), np.float16))
    with pytest.raises(ValueError, match="1-D"):
        CachedStem(tmp_path / "m.npy")


def test_reader_errors_name_the_folder(tmp_path):
    with pytest.raises(DataError, match="no Slakh-layout tracks"):
        find_tracks(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        find_tracks(tmp_path / "nope")
    (tmp_path / "T").mkdir()
    (tmp_path / "T" / "metadata.yaml").write_text("stems: {S00: {inst_class: x}}")
    with pytest.raises(DataError, match="program_num"):
        find_tracks(tmp_path)


def test_temper_masks_softens_or_sharpens_and_keeps_the_sum():
    import torch

    from stemscribe.inference import temper_masks

    torch.manual_seed(0)
    m = torch.softmax(torch.randn(4, 10, 7) * 2, dim=0)
    assert temper_masks(m, 1.0) is m
    soft, hard = temper_masks(m, 0.5), temper_masks(m, np.array([2.0, 2.0, 2.0, 2.0]))
    for t in (soft, hard):
        torch.testing.assert_close(t.sum(0), torch.ones(10, 7))
    assert soft.amax(0).mean() < m.amax(0).mean() < hard.amax(0).mean()
    # exponents compose: (m^a)^b renormalised = m^(ab)
    torch.testing.assert_close(temper_masks(temper_masks(m, 2.0), 0.5), m, rtol=1e-4, atol=1e-5)
    # a class with exponent 1 among others: the others' change moves it only through the renormalisation
    mixed = temper_masks(m, np.array([1.0, 0.5, 0.5, 0.5], np.float32))
    assert not torch.allclose(mixed[0], m[0])


def test_gate_masks_moves_gated_energy_to_the_catch_all():
    import torch

    from stemscribe.inference import gate_masks

    rng = np.random.default_rng(0)
    m = torch.from_numpy(rng.dirichlet(np.ones(3), size=(4, 5)).transpose(2, 0, 1).astype(np.float32))  # [3, F, T]
    g = torch.tensor([[1.0] * 5, [0.0, 0.5, 1.0, 1.0, 0.0], [1.0] * 5])                       # [C, T]
    out = gate_masks(m, g, catch=[2])
    torch.testing.assert_close(out.sum(0), torch.ones(4, 5))
    torch.testing.assert_close(out[0], m[0])                        # gate 1: untouched
    torch.testing.assert_close(out[1], m[1] * g[1])                 # scaled by its gate
    assert torch.all(out[2] >= m[2] - 1e-6)                         # the catch-all takes the rest
    out = gate_masks(m, g, catch=[])                                # no catch-all: renormalised
    torch.testing.assert_close(out.sum(0), torch.ones(4, 5))
    assert torch.all(out[1, :, 0] == 0) and torch.all(out[1, :, 4] == 0)
