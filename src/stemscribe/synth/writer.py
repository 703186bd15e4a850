"""Write a rendered track in the Slakh2100 layout, atomically, so interrupted runs resume cleanly.

```
TrackNNNNN/
  mix.flac  stems/S00.flac ...  MIDI/S00.mid ...  all_src.mid  metadata.yaml
```
A track is rendered into ``.TrackNNNNN.partial`` and renamed when every file is written, so a
``TrackNNNNN`` folder is complete by construction and a half-written one is never mistaken for
a finished one (a resumed run deletes and redoes it).

Audio is quantised here, stem by stem, and the mix is the sum of the quantised stems, so
``mix == sum(stems)`` holds exactly in integer samples (and in float32 as read back by
soundfile) whenever nothing clips; the caller's common gain keeps the mix under full scale.
"""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .song import Part, Song, gm_family, program_name

MIDI_RESOLUTION = 960  # ticks per quarter note: 1 ms or finer at 60 BPM and above
SUBTYPE_BITS = {"PCM_16": 16, "PCM_24": 24}


class TrackWriteError(RuntimeError):
    """The mix of a track would clip after quantisation (the common gain was not applied)."""


@dataclass(frozen=True)
class RenderedStem:
    """One stem ready to write: its part, the GM program played, the soundfont file name and
    its post-effects, post-gain audio, mono float32 ``[samples]`` in -1..1."""

    part: Part
    program: int
    soundfont: str
    audio: np.ndarray


def track_name(index: int) -> str:
    """Folder name of track ``index`` (0-based): ``Track00001`` for index 0, as in Slakh2100."""
    return f"Track{index + 1:05d}"


def is_complete(path: Path) -> bool:
    """Whether a track folder was finished (metadata.yaml is written last, before the rename)."""
    return (path / "metadata.yaml").is_file() and (path / "mix.flac").is_file()


def snap_to_ticks(song: Song) -> Song:
    """The song with note times rounded to the MIDI tick grid of its tempo, so the audio is
    rendered from exactly the times the MIDI files will hold."""
    from ..notes import Note

    tick = 60.0 / (song.tempo * MIDI_RESOLUTION)
    parts = []
    for p in song.parts:
        notes = []
        for n in p.notes:
            a, b = round(n.start / tick), round(n.end / tick)
            notes.append(Note(n.pitch, a * tick, max(b, a + 1) * tick, n.velocity))
        parts.append(Part(p.name, p.program, p.is_drum, notes))
    return Song(parts, song.tempo, song.source)


def quantise(audio: np.ndarray, bits: int) -> np.ndarray:
    """Float ``[samples]`` in -1..1 to integer sample values of ``bits`` bits, in LSB units
    (int16 for 16 bits, else int32). Exact in float32: scaling by a power of two loses nothing."""
    full = np.float32(2 ** (bits - 1))
    x = np.rint(np.asarray(audio, np.float32) * full)
    np.clip(x, -full, full - 1, out=x)
    return x.astype(np.int16 if bits == 16 else np.int32)


def _write_flac(path: Path, q: np.ndarray, bits: int, sample_rate: int) -> None:
    import soundfile as sf

    if bits == 16:
        sf.write(str(path), q.astype(np.int16, copy=False), sample_rate, subtype="PCM_16", format="FLAC")
    else:  # libsndfile writes the top 24 bits of int32 data
        sf.write(str(path), q.astype(np.int32) << 8, sample_rate, subtype="PCM_24", format="FLAC")


def _midi(parts: list[Part], programs: list[int], tempo: float):
    import pretty_midi

    from ..notes import midi_instrument

    pm = pretty_midi.PrettyMIDI(resolution=MIDI_RESOLUTION, initial_tempo=float(tempo))
    for p, prog in zip(parts, programs):
        pm.instruments.append(midi_instrument(p.notes, p.name, prog, p.is_drum))
    return pm


def write_track(root: Path, index: int, song: Song, stems: list[RenderedStem], sample_rate: int,
                subtype: str = "PCM_16", info: dict | None = None) -> Path:
    """Write one track folder under ``root`` atomically and return its path.

    song: the (tick-snapped) song the stems were rendered from; its tempo goes into the MIDI files.
    stems: in stem order (S00, S01, ...), all of one length.
    info: extra provenance written under ``stemscribe:`` in metadata.yaml (split, seed, source, ...).
    """
    import yaml

    if subtype not in SUBTYPE_BITS:
        raise ValueError(f"subtype {subtype!r} not supported for FLAC; use {', '.join(SUBTYPE_BITS)}")
    if not stems:
        raise ValueError("a track needs at least one stem")
    bits = SUBTYPE_BITS[subtype]
    name = track_name(index)
    final = root / name
    tmp = root / f".{name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "stems").mkdir(parents=True)
    (tmp / "MIDI").mkdir()

    qs = [quantise(s.audio, bits) for s in stems]
    mix = np.zeros(len(qs[0]), np.int32)  # int32 cannot overflow: at most 127 stems of 24 bits
    for q in qs:
        mix += q
    full = 2 ** (bits - 1)
    if mix.max(initial=0) > full - 1 or mix.min(initial=0) < -full:
        shutil.rmtree(tmp)
        raise TrackWriteError(f"{name}: the mix clips after quantisation; scale the stems down first")

    rows = {}
    for i, (s, q) in enumerate(zip(stems, qs)):
        key = f"S{i:02d}"
        _write_flac(tmp / "stems" / f"{key}.flac", q, bits, sample_rate)
        _midi([s.part], [s.program], song.tempo).write(str(tmp / "MIDI" / f"{key}.mid"))
        rows[key] = {
            "inst_class": gm_family(s.program, s.part.is_drum),
            "program_num": int(s.program),
            "is_drum": bool(s.part.is_drum),
            "midi_program_name": program_name(s.program, s.part.is_drum),
            "plugin_name": s.soundfont,
            "audio_rendered": True,
            "name": s.part.name,
            "stemscribe_class": s.part.cls,
        }
    _midi([s.part for s in stems], [s.program for s in stems], song.tempo).write(str(tmp / "all_src.mid"))
    _write_flac(tmp / "mix.flac", mix, bits, sample_rate)
    info = dict(info or {})
    seed_text = f"{info.get('split', '')}/{info.get('seed', '')}/{index}"
    meta = {
        "UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"stemscribe-synth/{seed_text}")),
        "audio_dir": "stems",
        "midi_dir": "MIDI",
        "normalized": False,
        "stemscribe": {**info, "sample_rate": int(sample_rate), "subtype": subtype,
                       "seconds": round(len(mix) / sample_rate, 3), "tempo": round(float(song.tempo), 3),
                       "source": song.source},
        "stems": rows,
    }
    (tmp / "metadata.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    if final.exists():  # an earlier run's folder: replaced only by a complete new one
        shutil.rmtree(final)
    tmp.rename(final)
    return final
