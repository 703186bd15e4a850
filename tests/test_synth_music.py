"""The synthesiser's MIDI side, without rendering: procedural arrangements, drums, corpus
arrangements for the test split, instrument ranges and the tick grid."""
from __future__ import annotations

import numpy as np

from stemscribe.synth.arranger import ALL_CLASSES, ArrangerConfig, arrange
from stemscribe.synth.drums import GROOVES, DrumBar, choose_groove, drum_notes
from stemscribe.synth.song import Part, Song, fit_ranges, program_range
from stemscribe.synth.writer import MIDI_RESOLUTION, snap_to_ticks
from stemscribe.notes import Note


def test_procedural_songs_are_deterministic_and_varied():
    a = arrange(np.random.default_rng(5))
    b = arrange(np.random.default_rng(5))
    assert [(p.program, p.notes) for p in a.parts] == [(p.program, p.notes) for p in b.parts]
    meters, tempi = set(), []
    for seed in range(30):
        song = arrange(np.random.default_rng(seed))
        meters.add(song.source.split(":")[2])
        tempi.append(song.tempo)
        assert 25 <= song.duration <= 70
    assert meters == {"4/4", "3/4", "6/8"}
    assert min(tempi) >= 60 and max(tempi) <= 180 and max(tempi) - min(tempi) > 60


def test_instruments_drop_in_and_out():
    """Activity is not all-on: in most songs some part rests for at least two seconds mid-song."""
    songs_with_gaps = 0
    for seed in range(10):
        song = arrange(np.random.default_rng(seed))
        for p in song.parts:
            starts = sorted(n.start for n in p.notes)
            ends = sorted(n.end for n in p.notes)
            gaps = [s - e for s, e in zip(starts[1:], ends[:-1])]
            if (gaps and max(gaps) >= 2.0) or starts[0] > 4.0 or song.duration - ends[-1] > 4.0:
                songs_with_gaps += 1
                break
    assert songs_with_gaps >= 7


def test_restricted_classes_give_every_class():
    five = ("piano", "guitar", "bass", "drums", "strings")
    for seed in range(10):
        song = arrange(np.random.default_rng(seed), ArrangerConfig(classes=five, require_all=True))
        assert set(song.classes()) == set(five)
    other = {arrange(np.random.default_rng(s)).classes().count("other") > 0 for s in range(10)}
    assert True in other


def test_drum_grooves_cover_styles_and_fill():
    names = {g.name for g in GROOVES}
    assert {"rock", "funk", "shuffle", "swing", "four-on-the-floor", "bossa", "ballad", "waltz"} <= names
    rng = np.random.default_rng(0)
    g = choose_groove(rng, "4/4")
    plain = drum_notes(rng, g, [0.0, 2.0], 2.0, [DrumBar(), DrumBar(fill=True, crash=True)], 4, humanise=0.0)
    assert any(n.pitch in (49, 57) for n in plain)  # crash on the second downbeat
    assert any(n.pitch in (41, 43, 45, 47, 48, 50, 38) and n.start >= 3.5 for n in plain)  # a fill at the end
    assert drum_notes(rng, g, [0.0], 2.0, [DrumBar(play=False)], 4) == []


def test_test_arrangement_maps_voices_to_five_classes():
    from stemscribe.synth.classical import arrange_test
    from stemscribe.synth.corpus import load_excerpt

    rng = np.random.default_rng(0)
    ex = load_excerpt("bach/bwv66.6.mxl", rng, 12.0, (70.0, 90.0))
    assert len(ex.voices) == 4 and ex.meter == (4, 4)
    song = arrange_test(rng, ex)
    assert set(song.classes()) == {"piano", "guitar", "bass", "drums", "strings"}
    strings = next(p for p in song.parts if p.cls == "strings")
    bass = next(p for p in song.parts if p.cls == "bass")
    assert np.median([n.pitch for n in strings.notes]) > np.median([n.pitch for n in bass.notes])


def test_fit_ranges_moves_and_drops_out_of_range_notes():
    tuba = Part("tuba", 58, False, [Note(80, 0, 1), Note(84, 1, 2), Note(100, 2, 3)])
    (fitted,) = fit_ranges(Song([tuba])).parts
    lo, hi = program_range(58)
    assert all(lo <= n.pitch <= hi for n in fitted.notes) and len(fitted.notes) >= 2


def test_snap_to_ticks_matches_what_the_midi_file_holds(tmp_path):
    import pretty_midi

    from stemscribe.notes import midi_instrument

    song = snap_to_ticks(Song([Part("p", 0, False, [Note(60, 0.123456, 0.5), Note(62, 1.000777, 1.2)])], tempo=97.0))
    pm = pretty_midi.PrettyMIDI(resolution=MIDI_RESOLUTION, initial_tempo=97.0)
    pm.instruments.append(midi_instrument(song.parts[0].notes, "p", 0, False))
    pm.write(str(tmp_path / "x.mid"))
    back = pretty_midi.PrettyMIDI(str(tmp_path / "x.mid")).instruments[0].notes
    assert np.allclose([n.start for n in back], [n.start for n in song.parts[0].notes], atol=1e-6)
    assert abs(song.parts[0].notes[0].start - 0.123456) < 60 / (97 * MIDI_RESOLUTION)


def test_all_classes_known():
    assert ALL_CLASSES == ("piano", "guitar", "bass", "drums", "strings", "other")
